// Generates the TypeScript client code from ../proto into src/gen (not
// tracked) with the system protoc and @bufbuild/protoc-gen-es, as
// tests/web/run_grpc_web_test.sh does. PROTOC overrides the protoc binary.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const proto = join(web, "..", "proto");
const out = join(web, "src", "gen");
const plugin = join(web, "node_modules", ".bin", "protoc-gen-es");
const files = [
  ...readdirSync(join(proto, "raceway", "v1")).map((f) => join(proto, "raceway", "v1", f)),
  ...readdirSync(join(proto, "google", "rpc")).map((f) => join(proto, "google", "rpc", f)),
].filter((f) => f.endsWith(".proto"));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(
  process.env.PROTOC || "protoc",
  ["-I", proto, `--plugin=protoc-gen-es=${plugin}`, `--es_out=${out}`,
   "--es_opt=target=ts,import_extension=js", ...files],
  { stdio: "inherit" },
);
console.log(`generated ${files.length} proto files into src/gen`);
