/** Test users with bcrypt hashes made at test time (cost 4 keeps tests fast). */
import { hashSync } from '@node-rs/bcrypt';

export const PASSWORD = 'secret';

/** htpasswd text: `limited` and `norights` as `$2y$` (what `htpasswd -B` writes), others `$2b$`/`$2a$`. */
export function makePasswd(): string {
  const h = hashSync(PASSWORD, 4);
  const y = h.replace(/^\$2b\$/, '$2y$');
  const a = h.replace(/^\$2b\$/, '$2a$');
  return [
    `limited:${y}`,
    `norights:${y}`,
    `repl:${h}`,
    `noacl:${a}`,
    `admin:${a}`,
    '# comment:line',
    '',
  ].join('\n');
}

export const TEST_ACL = `
_:
  sub: ["#"]
  pub: ["#"]
  admin: true
limited:
  sub: ["allowed/#", "plus/+"]
  pub: ["allowed/#"]
norights: {}
repl:
  replicator: true
admin:
  admin: true
`;
