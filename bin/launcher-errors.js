// Start-up failures a user can fix, explained in one line instead of a module-resolution stack.
const SERVER_PACKAGES = ['zod', 'yaml', '@node-rs/bcrypt', 'chart.js'];

/** @param {unknown} err @returns {string | null} */
export function missingBuildOrDependency(err) {
  if (!(err instanceof Error) || /** @type {{ code?: string }} */ (err).code !== 'ERR_MODULE_NOT_FOUND') return null;
  if (/[/\\]dist[/\\]src[/\\]/.test(err.message) && !/node_modules/.test(err.message)) {
    return 'dist/ is missing: run `npm run build` in the psrt-node directory (npm install and npm pack build it automatically)';
  }
  const pkg = SERVER_PACKAGES.find((p) => err.message.includes(`'${p}'`));
  if (pkg !== undefined) {
    return `the server dependency ${pkg} is not installed (installed with --omit=optional?): reinstall psrt-node without --omit=optional to run psrtd`;
  }
  return null;
}
