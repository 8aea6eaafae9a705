/** Our one password rule, shared by every place a password is chosen (users, invites, set-password). */
export const PASSWORD_MIN_LENGTH = 8;

/** Why a password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: unknown): string | undefined {
  if (typeof password !== 'string' || password.length < PASSWORD_MIN_LENGTH) {
    return `Password must have at least ${PASSWORD_MIN_LENGTH} characters`;
  }
  return undefined;
}
