/**
 * Lints code snippets with the repository's ESLint configuration through ESLint's Node API, in a process of its
 * own: the configuration is an ES module, which Jest's module sandbox cannot load. Reads
 * `[{ code, filePath }]` as JSON on stdin and writes, per snippet, its messages as JSON on stdout.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { ESLint } from "eslint";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const snippets = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const eslint = new ESLint({ cwd: process.cwd() });
const out = [];
for (const { code, filePath } of snippets) {
  const [result] = await eslint.lintText(code, { filePath });
  out.push(result.messages.map((m) => ({ ruleId: m.ruleId, message: m.message, fatal: m.fatal === true })));
}
process.stdout.write(JSON.stringify(out));
