// Runs a tool's main(argv) when its file is the script Node was started with, so the same module can
// also be imported by tests. Shared by classify.mjs, evaluate.mjs and simulate-corrections.mjs (and, for
// their arguments, the smaller scripts): one place for the argument and exit rules.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** Thrown by a tool's argument parser for anything the user typed wrong (exit 2 with the usage text). */
export class UsageError extends Error {}

/**
 * node:util's parseArgs over argv (strict, positionals allowed, --help/-h added to `options`); what it
 * refuses becomes a UsageError, so each tool's parser only checks its own values.
 */
export function parseToolArgs(argv, options) {
  try {
    return parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (error) {
    throw new UsageError(error.message);
  }
}

/**
 * Parses argv with parse(argv). Returns {options}, or {exit} after printing the usage: exit 0 for
 * --help (to stdout), 2 for a UsageError (message and usage to stderr). Other errors propagate.
 */
export function parseCommandLine(name, usage, parse, argv, io) {
  let options;
  try {
    options = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`${name}: ${error.message}\n\n${usage}\n`);
    return { exit: 2 };
  }
  if (options.help) {
    io.stdout.write(`${usage}\n`);
    return { exit: 0 };
  }
  return { options };
}

/**
 * For scripts without a main(argv) of their own: their options from process.argv (no positionals), or
 * the usage printed and the process ended (0 for --help, 2 for anything typed wrong), as above.
 */
export function toolArgsOrExit(name, usage, options, argv = process.argv.slice(2)) {
  const parsed = parseCommandLine(name, usage, (args) => {
    const { values, positionals } = parseToolArgs(args, options);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return values;
  }, argv, process);
  if (parsed.exit !== undefined) process.exit(parsed.exit);
  return parsed.options;
}

/** Calls main(argv) if moduleUrl is the entry script; exits with its code (1 on an unexpected throw). */
export async function runIfMain(moduleUrl, name, main) {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  // A closed pipe (`… | head`) is a normal way to stop reading: leave quietly. Any other failure to
  // write (a full disk, /dev/full) loses results: say so and exit 1.
  const writeFailed = (error) => {
    if (error.code === 'EPIPE') process.exit(0);
    process.stderr.write(`${name}: cannot write the output: ${error.code ?? error.message}\n`);
    process.exit(1);
  };
  process.stdout.on('error', writeFailed);
  // Messages that cannot be written (stderr into a pipe whose reader left, `2>&1 | head -1`) are lost,
  // not the run: unhandled, the first one ended it with exit 1 and, for evaluate, no report at all.
  process.stderr.on('error', () => {});
  let code;
  try {
    code = await main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${name}: unexpected failure: ${error?.stack ?? error}\n`);
    code = 1;
  }
  // ORT's wasm build may keep worker threads alive: flush stdout, then exit explicitly.
  process.stdout.write('', (error) => (error ? writeFailed(error) : process.exit(code)));
}
