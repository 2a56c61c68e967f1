// Parses each diagram of a JSON list (the file named by the first argument) with Mermaid's own parser;
// prints a JSON list with, for each, null when it parses, else the parser's message.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

// Mermaid's sanitiser (DOMPurify) needs a DOM, even to parse.
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

const diagrams = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = [];
for (const text of diagrams) {
  try {
    await mermaid.parse(text);
    results.push(null);
  } catch (error) {
    results.push(String(error.message || error));
  }
}
console.log(JSON.stringify(results));
