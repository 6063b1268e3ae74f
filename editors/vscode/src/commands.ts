// Refactor command arguments. Pure.

export const EDIT_SELECTION = "codeslm.editSelection";

export interface CommandArgument {
  uri: string;
  version?: number;
  range: unknown;
  instruction?: string;
  [key: string]: unknown;
}

/** True when the command needs an instruction the user has not given yet. */
export function needsInstruction(command: string, args: unknown[]): boolean {
  if (command !== EDIT_SELECTION) {
    return false;
  }
  const first = args[0] as CommandArgument | undefined;
  return !first || typeof first.instruction !== "string" || first.instruction.trim() === "";
}

/** The arguments with the user's instruction added (the input is not modified). */
export function withInstruction(args: unknown[], instruction: string): unknown[] {
  const [first, ...rest] = args;
  const base = typeof first === "object" && first !== null ? (first as CommandArgument) : {};
  return [{ ...base, instruction: instruction.trim() }, ...rest];
}
