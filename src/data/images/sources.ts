/**
 * The file lists of the image-folder data sets: which files, which label, which classes.
 * Nothing is decoded here (see pool.ts); listing a large folder reports progress.
 *
 *   imagefolder   root/train/<class>/*.{jpg,jpeg,png,webp} and root/{val,test}/<class>/...
 *   tinyimagenet  as distributed: wnids.txt, train/<wnid>/images/*.JPEG,
 *                 val/images/*.JPEG labelled by val/val_annotations.txt
 *   imagenet      train/<class>/* and val/<class>/* (the usual class-folder layout)
 *
 * Classes are sorted by name (tinyimagenet: the order of wnids.txt sorted, so the label of a
 * wnid does not depend on the file's line order), and the evaluation split must have the same
 * classes as the training split.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

export interface FileList {
  /** Absolute or data-dir-relative paths, in a fixed order (class, then file name). */
  files: string[];
  labels: Int32Array;
  classes: string[];
  /** Classes whose folder held no image (allowed only with skipBadImages). */
  emptyClasses: string[];
}

export interface ListOptions {
  /** Empty class folders are an error unless this is set (they are then kept, without images). */
  skipBadImages?: boolean;
  /** Progress: called now and then with the files and classes found so far. */
  onProgress?: (filesFound: number, classesFound: number) => void;
}

const isImage = (name: string): boolean => {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
};

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    throw new Error(`${dir}: cannot read directory: ${(e as Error).message}`);
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Sorted sub-folders of `dir` (hidden ones skipped). */
export function classFolders(dir: string): string[] {
  if (!isDir(dir)) throw new Error(`${dir}: no such directory (expected one folder per class)`);
  return readDir(dir).filter((n) => !n.startsWith('.') && isDir(join(dir, n)));
}

/**
 * Images of `classes` found as `dir/<class>/<sub>/*` (sub '' for plain class folders), label =
 * index in `classes`.
 */
function listClassFolders(dir: string, classes: string[], sub: string, opts: ListOptions): FileList {
  const files: string[] = [];
  const labels: number[] = [];
  const emptyClasses: string[] = [];
  let lastReport = 0;
  classes.forEach((cls, label) => {
    const folder = join(dir, cls, sub);
    const names = existsSync(folder) ? readDir(folder).filter(isImage) : [];
    if (names.length === 0) {
      if (!opts.skipBadImages) {
        throw new Error(
          `${folder}: class folder holds no image (*${IMAGE_EXTENSIONS.join(', *')}); ` +
            'remove the folder or pass --skip-bad-images to keep the class without images',
        );
      }
      emptyClasses.push(cls);
    }
    for (const n of names) {
      files.push(join(folder, n));
      labels.push(label);
    }
    if (opts.onProgress && files.length - lastReport >= 10_000) {
      lastReport = files.length;
      opts.onProgress(files.length, label + 1);
    }
  });
  opts.onProgress?.(files.length, classes.length);
  return { files, labels: Int32Array.from(labels), classes, emptyClasses };
}

/** Same class names in train and eval, or an error naming what differs. */
export function checkSameClasses(train: string[], evalClasses: string[], trainDir: string, evalDir: string): void {
  const a = new Set(train);
  const b = new Set(evalClasses);
  const onlyTrain = train.filter((c) => !b.has(c));
  const onlyEval = evalClasses.filter((c) => !a.has(c));
  if (onlyTrain.length === 0 && onlyEval.length === 0) return;
  const few = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, ... (${xs.length} in all)` : '');
  const parts: string[] = [];
  if (onlyTrain.length > 0) parts.push(`only in ${trainDir}: ${few(onlyTrain)}`);
  if (onlyEval.length > 0) parts.push(`only in ${evalDir}: ${few(onlyEval)}`);
  throw new Error(`the training and evaluation folders have different classes (${parts.join('; ')}); both need the same class folders`);
}

/** The first of `names` that is a folder under `root`, or undefined. */
function firstDir(root: string, names: string[]): string | undefined {
  return names.map((n) => join(root, n)).find(isDir);
}

export type ImageSourceKind = 'imagefolder' | 'tinyimagenet' | 'imagenet';

/** Train and eval file lists of a data set in `root`. */
export function listSource(kind: ImageSourceKind, root: string, opts: ListOptions = {}): { train: FileList; test: FileList } {
  if (!isDir(root)) throw new Error(`${kind}: data directory ${root} does not exist`);
  if (kind === 'tinyimagenet') return listTinyImageNet(root, opts);
  const evalNames = kind === 'imagenet' ? ['val'] : ['val', 'test'];
  const trainDir = join(root, 'train');
  const evalDir = firstDir(root, evalNames);
  if (!isDir(trainDir) || evalDir === undefined) {
    throw new Error(
      `${kind}: expected ${trainDir}/<class>/<images> and ${evalNames.map((n) => join(root, n)).join(' or ')}/<class>/<images>`,
    );
  }
  const classes = classFolders(trainDir);
  if (classes.length === 0) throw new Error(`${trainDir}: no class folders`);
  checkSameClasses(classes, classFolders(evalDir), trainDir, evalDir);
  return { train: listClassFolders(trainDir, classes, '', opts), test: listClassFolders(evalDir, classes, '', opts) };
}

function listTinyImageNet(root: string, opts: ListOptions): { train: FileList; test: FileList } {
  const wnidsFile = join(root, 'wnids.txt');
  const annFile = join(root, 'val', 'val_annotations.txt');
  for (const f of [wnidsFile, annFile]) {
    if (!existsSync(f)) throw new Error(`tinyimagenet: missing ${f} (expected the layout of tiny-imagenet-200.zip)`);
  }
  const classes = [...new Set(readText(wnidsFile).split(/\s+/).filter((s) => s.length > 0))].sort();
  if (classes.length === 0) throw new Error(`${wnidsFile}: no class ids`);
  const train = listClassFolders(join(root, 'train'), classes, 'images', opts);
  const index = new Map(classes.map((c, i) => [c, i]));
  const files: string[] = [];
  const labels: number[] = [];
  const lines = readText(annFile).split('\n');
  lines.forEach((line, i) => {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 2 || cols[0] === '') return;
    const label = index.get(cols[1]);
    if (label === undefined) {
      throw new Error(`${annFile}: line ${i + 1}: class ${cols[1]} is not in ${wnidsFile}`);
    }
    files.push(join(root, 'val', 'images', cols[0]));
    labels.push(label);
  });
  // Annotation order is the file's; sort by file name so the order does not depend on it.
  const order = files.map((_, i) => i).sort((a, b) => (files[a] < files[b] ? -1 : files[a] > files[b] ? 1 : 0));
  return {
    train,
    test: {
      files: order.map((i) => files[i]),
      labels: Int32Array.from(order.map((i) => labels[i])),
      classes,
      emptyClasses: [],
    },
  };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read file: ${(e as Error).message}`);
  }
}
