import { Input, Textarea } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';

interface CodeEditorProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  testId?: string;
}

type EditorView = import('@codemirror/view').EditorView;

/** CodeMirror with TypeScript highlighting, line numbers, undo and Tab indentation. */
async function createEditor(parent: HTMLElement, doc: string, onChange: (value: string) => void, label: string): Promise<EditorView> {
  const [{ EditorView, keymap, lineNumbers, highlightActiveLine }, { EditorState }, commands, language, { javascript }] = await Promise.all(
    [
      import('@codemirror/view'),
      import('@codemirror/state'),
      import('@codemirror/commands'),
      import('@codemirror/language'),
      import('@codemirror/lang-javascript'),
    ],
  );
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLine(),
        commands.history(),
        language.indentOnInput(),
        language.syntaxHighlighting(language.defaultHighlightStyle, { fallback: true }),
        javascript({ typescript: true }),
        keymap.of([...commands.defaultKeymap, ...commands.historyKeymap, commands.indentWithTab]),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
        EditorView.theme({ '&': { fontSize: '13px', maxHeight: '60vh' }, '.cm-scroller': { overflow: 'auto' } }),
      ],
    }),
  });
}

/**
 * A code editor for the bot source. CodeMirror is loaded with the bot editor only (its own chunk);
 * until it is there, or if it fails to load, a monospace textarea edits the same text.
 */
export function CodeEditor({ label, value, onChange, testId }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView>(undefined);
  const latest = useRef({ value, onChange });
  latest.current = { value, onChange };
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let cancelled = false;
    const parent = host.current;
    if (!parent) return;
    createEditor(parent, latest.current.value, (v) => latest.current.onChange(v), label)
      .then((created) => {
        if (cancelled) {
          created.destroy();
          return;
        }
        view.current = created;
        setReady(true);
      })
      .catch(() => setReady(false));
    return () => {
      cancelled = true;
      view.current?.destroy();
      view.current = undefined;
    };
  }, [label]);

  // Text set from outside (a reload) replaces the document; the editor's own edits are already in it.
  useEffect(() => {
    const current = view.current;
    if (current && current.state.doc.toString() !== value) {
      current.dispatch({ changes: { from: 0, to: current.state.doc.length, insert: value } });
    }
  }, [value]);

  return (
    <Input.Wrapper label={label} data-testid={testId} data-ready={String(ready)}>
      <div ref={host} style={{ border: '1px solid var(--mantine-color-gray-4)', borderRadius: 4, display: ready ? undefined : 'none' }} />
      {!ready && (
        <Textarea
          aria-label={label}
          value={value}
          onChange={(e) => onChange(e.currentTarget.value)}
          autosize
          minRows={14}
          maxRows={32}
          spellCheck={false}
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)', fontSize: 13 } }}
        />
      )}
    </Input.Wrapper>
  );
}
