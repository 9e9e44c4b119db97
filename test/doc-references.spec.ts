import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './support/process';

/**
 * The code, the README and the docs point readers at a section of a document by its name: a file under docs/ (or the
 * README) followed by the section's name in double quotes. Those names are checked here against the document's
 * headings and the bold words that open its paragraphs, so that a section moved or renamed does not leave its readers
 * with a name found nowhere.
 */

const SOURCES = ['README.md', 'Dockerfile', 'docker-compose.yml', 'docs', 'src', 'bench', 'test', 'packages/client/src'];

function sourceFiles(): string[] {
  const files: string[] = [];
  for (const entry of SOURCES) {
    const path = join(ROOT, entry);
    if (!existsSync(path)) continue;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path, { recursive: true }) as string[]) {
        if (/\.(ts|js|md|yml)$/.test(name) && !name.includes('node_modules')) files.push(join(path, name));
      }
    } else {
      files.push(path);
    }
  }
  return files;
}

/** The text with each line break and the next line's comment markers and indentation taken as one space. */
function joinedLines(text: string): string {
  return text.replace(/\s*\n\s*(?:\*(?!\*)|\/\/|#(?!#))?\s*/g, ' ');
}

interface SectionReference {
  file: string;
  section: string;
}

/** Each reference to a named section of a file under docs/ or of the README, in a text. */
function sectionReferences(text: string): SectionReference[] {
  const joined = joinedLines(text);
  const found: SectionReference[] = [];
  for (const m of joined.matchAll(/`?\b(docs\/[\w-]+\.md)`?(?:,\s*|\s*\()"([^"]+)"/g)) found.push({ file: m[1], section: m[2] });
  for (const m of joined.matchAll(/\bREADME(?:\.md)?`?(?:,\s*|\s*\()"([^"]+)"/g)) found.push({ file: 'README.md', section: m[1] });
  return found;
}

/** A document's section names: its headings, and the bold words opening a paragraph ("**Name.** …"). */
function sectionNames(markdown: string): string[] {
  const names: string[] = [];
  const lines = markdown.split('\n');
  lines.forEach((line, i) => {
    const heading = /^#{1,6}\s+(.+)$/.exec(line);
    if (heading) names.push(heading[1].trim());
    if (line.startsWith('**')) {
      const lead = /^\*\*(.+?)\*\*/.exec(`${line} ${lines[i + 1] ?? ''}`);
      if (lead) names.push(lead[1].replace(/\s+/g, ' '));
    }
  });
  return names;
}

describe('references to a section of a document', () => {
  it('finds a reference split over comment lines, and the headings and bold openings of a document', () => {
    const comment = ['/**', ' * as measured (docs/example.md, "The host\'s', " * own rhythm\"); and `docs/other.md`, \"Node 24\".", ' */'].join('\n');
    expect(sectionReferences(comment)).toEqual([
      { file: 'docs/example.md', section: "The host's own rhythm" },
      { file: 'docs/other.md', section: 'Node 24' },
    ]);
    expect(sectionReferences('see README, "Operations", and docs/x.md for more')).toEqual([{ file: 'README.md', section: 'Operations' }]);
    const doc = ['# Title', '', '### Node 24: a fifth fewer', '', '**The host\'s own rhythm: DAMON (5 December', '2026).** Text', 'not **bold** here'];
    expect(sectionNames(doc.join('\n'))).toEqual(['Title', 'Node 24: a fifth fewer', "The host's own rhythm: DAMON (5 December 2026)."]);
  });

  it('every named section referred to exists in its document, by the start of its name', () => {
    const names = new Map<string, string[]>();
    const missing: string[] = [];
    let count = 0;
    for (const path of sourceFiles()) {
      if (path === __filename) continue;
      for (const ref of sectionReferences(readFileSync(path, 'utf8'))) {
        count++;
        const target = join(ROOT, ref.file);
        if (!names.has(ref.file)) names.set(ref.file, existsSync(target) ? sectionNames(readFileSync(target, 'utf8')) : []);
        if (!names.get(ref.file)!.some((name) => name.startsWith(ref.section))) {
          missing.push(`${relative(ROOT, path)}: ${ref.file}, "${ref.section}"`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(count).toBeGreaterThan(20);
  });

  it('every document under docs/ that is named exists', () => {
    const missing = new Set<string>();
    for (const path of sourceFiles()) {
      if (path === __filename) continue;
      for (const m of readFileSync(path, 'utf8').matchAll(/\bdocs\/[\w-]+\.(?:md|yml)\b/g)) {
        if (!existsSync(join(ROOT, m[0]))) missing.add(`${relative(ROOT, path)}: ${m[0]}`);
      }
    }
    expect([...missing]).toEqual([]);
  });
});
