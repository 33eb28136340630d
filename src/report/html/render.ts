/**
 * Renders report models into one self-contained HTML file with Handlebars: templates from
 * templates/ (or a user's directory, file by file over the defaults), CSS, the chart script
 * and uPlot inlined, so the file opens offline, makes no request, and prints.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, extname, join } from 'node:path';
import Handlebars from 'handlebars';
import { InputError, oneLine } from '../../core/errors.js';
import { templatesDir as defaultTemplatesDir } from '../../core/paths.js';
import { registerHelpers } from './helpers.js';

/** Where templates come from. */
export interface TemplateOptions {
  /** A directory laid out like templates/: each file found there replaces the default of the same name. */
  templatesDir?: string;
}

interface TemplateSet {
  layouts: Map<string, string>;
  partials: Map<string, string>;
  assets: Map<string, string>;
}

function readDir(dir: string, ext: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    if (extname(f) === ext || (ext === '*' && statSync(path).isFile())) {
      out.set(ext === '*' ? f : basename(f, ext), readFileSync(path, 'utf8'));
    }
  }
  return out;
}

function loadSet(dir: string): TemplateSet {
  return {
    layouts: readDir(dir, '.hbs'),
    partials: readDir(join(dir, 'partials'), '.hbs'),
    assets: readDir(join(dir, 'assets'), '*'),
  };
}

/** The default set, overlaid by the user's files. */
function templateSet(options: TemplateOptions): TemplateSet {
  const set = loadSet(defaultTemplatesDir);
  if (options.templatesDir) {
    if (!existsSync(options.templatesDir) || !statSync(options.templatesDir).isDirectory()) {
      throw new InputError(`--templates ${options.templatesDir}: not a directory`);
    }
    const user = loadSet(options.templatesDir);
    for (const key of ['layouts', 'partials', 'assets'] as const) {
      for (const [name, text] of user[key]) set[key].set(name, text);
    }
  }
  return set;
}

let uplotCache: { js: string; css: string } | undefined;

/** uPlot's browser build and stylesheet, read from the installed package. */
function uplotAssets(): { js: string; css: string } {
  if (!uplotCache) {
    const require = createRequire(import.meta.url);
    uplotCache = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return uplotCache;
}

/**
 * Renders `layout` (report or trends) with `model` as its context, plus `assets` (css, js,
 * uplotJs, uplotCss) for inlining.
 *
 * @throws InputError when a template is missing or does not compile, naming the file.
 */
export function renderTemplate(layout: string, model: object, options: TemplateOptions = {}): string {
  const set = templateSet(options);
  const hb = Handlebars.create();
  registerHelpers(hb);
  for (const [name, text] of set.partials) hb.registerPartial(name, text);
  const source = set.layouts.get(layout);
  if (source === undefined)
    throw new InputError(`no template ${layout}.hbs in ${options.templatesDir ?? defaultTemplatesDir}`);
  const uplot = uplotAssets();
  // A script's text must not contain "</script": escape the slash, which JavaScript ignores.
  const script = (s: string) => s.replace(/<\/script/gi, '<\\/script');
  const assets = {
    css: set.assets.get('report.css') ?? '',
    js: script(set.assets.get('report.js') ?? ''),
    uplotJs: script(uplot.js),
    uplotCss: uplot.css,
  };
  try {
    const template = hb.compile(source, { strict: false, preventIndent: true });
    return template({ ...model, assets });
  } catch (err) {
    throw new InputError(`template ${layout}.hbs: ${oneLine((err as Error).message)}`, { cause: err });
  }
}
