/**
 * The request line of a line socket (`serveUnixLines`) from what has come in
 * so far: the line once it is whole, null when it runs over `maxLine` bytes
 * (it gets no answer), undefined while more may come.
 * @module
 */
export function firstLine(text: string, maxLine: number): string | null | undefined {
  const newline = text.indexOf("\n");
  if (newline < 0) return text.length > maxLine ? null : undefined;
  return newline > maxLine ? null : text.slice(0, newline);
}
