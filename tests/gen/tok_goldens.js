// Reference ids from the Hugging Face tokenizers library (Rust, via the npm package
// @anush008/tokenizers@0.6.0), for tests/gen/make_tok_goldens.sh.
// Usage: NODE_PATH=... node tok_goldens.js tokenizer.json input.jsonl > out.tsv
// Input: one JSON string per line (the text).  Output: "<line>\t<id> <id> ..." per line,
// 1-based line numbers, untruncated ([CLS] ... [SEP]).
const { Tokenizer } = require('@anush008/tokenizers');
const fs = require('fs');
const tk = Tokenizer.fromFile(process.argv[2]);
tk.disableTruncation();
const lines = fs.readFileSync(process.argv[3], 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
const texts = lines.map(l => JSON.parse(l));
(async () => {
  const out = [];
  for (let i = 0; i < texts.length; i += 4096) {
    const encs = await tk.encodeBatch(texts.slice(i, i + 4096));
    encs.forEach((e, k) => out.push(`${i + k + 1}\t${e.getIds().join(' ')}`));
  }
  process.stdout.write(out.join('\n') + '\n');
})();
