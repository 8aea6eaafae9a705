// The bot runtime's contract (server/bots/runtime.ts), under the names the subscription engine uses.
export type {
  BotExecutionRequest as BotExecuteRequest,
  BotExecutionResult as BotExecuteResult,
  BotExecutor,
} from '../bots/runtime.ts';
