import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/tracers/child-process.js';

/** Feeds chunks to a splitter and returns the lines it produced. */
function split(chunks: Array<string | Buffer>, maxLineLength?: number): string[] {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l), maxLineLength);
  for (const c of chunks) s.push(c);
  s.end();
  return lines;
}

describe('LineSplitter (tool output line by line)', () => {
  it('joins lines split across chunks and drops terminators', () => {
    expect(split(['a', 'b\nc', 'd\r\n', '\n', 'tail'])).toEqual(['ab', 'cd', '', 'tail']);
  });

  it('decodes UTF-8 characters cut between chunks', () => {
    const bytes = Buffer.from('é→x\n', 'utf8');
    expect(split([bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)])).toEqual(['é→x']);
  });

  it('cuts an overlong line and drops the rest of it', () => {
    expect(split(['0123456789', 'abc\nnext\n'], 4)).toEqual(['0123', 'next']);
    expect(split(['01234567'], 4)).toEqual(['0123']);
    expect(split(['0123456789\nab\n'], 4)).toEqual(['0123', 'ab']);
  });

  it('gives nothing for nothing', () => {
    expect(split([])).toEqual([]);
    expect(split(['\n'])).toEqual(['']);
  });
});
