import { defineConfig } from "vite";

// No framework plugin: esbuild compiles the TSX with Preact's automatic
// JSX runtime, which keeps the dependency tree small.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  base: "./",
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, target: "es2022" },
  server: { host: "127.0.0.1", port: 5173 },
});
