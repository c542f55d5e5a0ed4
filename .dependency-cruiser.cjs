/**
 * dependency-cruiser configuration: dependencies under src/ run one way. test/import-cycles.test.ts runs it in
 * `npm test`; `npm run check:cycles` runs it by hand. Type-only imports count (a cycle of types is still a
 * loop a reader must hold in their head), so the TypeScript sources are parsed with swc, not the compiled
 * JavaScript, where `import type` is gone.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: make one side a leaf (shared types/state) that imports neither (issue 14).',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
  },
};
