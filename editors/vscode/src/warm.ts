// When the cursor rests in a new place, tell the server (codeslm/warm) so it evaluates the
// prompt for that place before a suggestion is asked for. The decision is kept pure (no
// vscode import) so that it can be tested with node alone.

export interface Place {
  uri: string;
  line: number;
  character: number;
}

/** Lines within which a rest counts as the same place as the last one warmed. */
export const NEAR_LINES = 3;

/** Whether a rest at `next` deserves a warm-up, given the last place warmed. */
export function shouldWarm(last: Place | undefined, next: Place): boolean {
  if (last === undefined || last.uri !== next.uri) {
    return true;
  }
  return Math.abs(last.line - next.line) > NEAR_LINES;
}

/** The codeslm/warm notification's parameters for a place. */
export function warmParams(place: Place): object {
  return {
    textDocument: { uri: place.uri },
    position: { line: place.line, character: place.character },
  };
}
