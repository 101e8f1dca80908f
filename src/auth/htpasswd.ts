/**
 * Password file parser (SERVER.md §5.2), byte-for-byte the reference's rules so the same
 * htpasswd files give the same logins: the whole text and every line are trimmed, a line must
 * split on `:` into exactly two parts (so blank lines and lines with extra colons are ignored),
 * a login starting with `#` is a comment, and a later duplicate replaces an earlier one.
 */
export function parseHtpasswd(text: string): Map<string, string> {
  const map = new Map<string, string>();
  // Rust `lines()` splits on \n and drops a trailing \r; the per-line trim removes it anyway.
  for (const raw of text.trim().split('\n')) {
    const parts = raw.trim().split(':');
    if (parts.length !== 2) continue;
    const [login, hash] = parts as [string, string];
    if (login.startsWith('#')) continue;
    map.set(login.trim(), hash.trim());
  }
  return map;
}
