/**
 * The parser of a `text/event-stream` body (server-sent events), fed with bytes, so the watcher's two ways of opening
 * the push channel — node:http and a host's custom `fetch` — read events the same way. Only what ferry's push channel
 * uses is kept: `event` and `data` fields, comments skipped; `id` and `retry` are ignored (the watcher has its own
 * backoff, and an event only says "look", so a missed one costs nothing a check does not recover).
 */

/** Longest line accepted: a runaway line without a newline is not an event stream. */
const MAX_LINE = 64 * 1024;
/**
 * Largest event accepted (its data lines together): an announcement is a few hundred bytes, and an event that never
 * ends (data lines without the blank line that dispatches them) must not grow without bound.
 */
const MAX_EVENT = 64 * 1024;

export interface EventStreamParser {
  /**
   * Feeds the next bytes of the body; false when they are not an event stream (a line or an event over 64 KiB): stop
   * reading and drop it.
   */
  push(chunk: Uint8Array): boolean;
}

/**
 * Creates a parser that calls `onEvent(event, data)` for each dispatched event (`event` defaults to `message`; data
 * lines are joined with `\n`). Lines end with CRLF, LF or CR, also when a CRLF is split between two chunks, and UTF-8
 * characters split between chunks are decoded whole.
 */
export function createEventStreamParser(onEvent: (event: string, data: string) => void): EventStreamParser {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let size = 0;
  let oversized = false;
  // The previous chunk ended with a CR: an LF at the start of this one belongs to it, not to an empty line.
  let pendingLf = false;

  const line = (text: string) => {
    if (text === '') {
      if (data.length > 0) onEvent(event, data.join('\n'));
      event = 'message';
      data = [];
      size = 0;
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? '' : text.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') {
      size += value.length + 1;
      if (size > MAX_EVENT) oversized = true;
      else data.push(value);
    }
  };

  return {
    push(chunk) {
      let text = decoder.decode(chunk, { stream: true });
      if (pendingLf && text !== '') {
        pendingLf = false;
        if (text.startsWith('\n')) text = text.slice(1);
      }
      buffer += text;
      const eol = /\r\n|\r|\n/g;
      let start = 0;
      for (let match = eol.exec(buffer); match !== null && !oversized; match = eol.exec(buffer)) {
        line(buffer.slice(start, match.index));
        start = eol.lastIndex;
        if (match[0] === '\r' && start === buffer.length) pendingLf = true;
      }
      buffer = buffer.slice(start);
      return !oversized && buffer.length <= MAX_LINE;
    },
  };
}
