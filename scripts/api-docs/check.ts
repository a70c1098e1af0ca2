/**
 * The documentation rules for the public API, checked on API Extractor's doc model:
 * - every exported declaration (construct, class, interface, function, type, constant, enum) has
 *   a summary;
 * - every public member of a class or interface (property, method, enum member) has one too;
 * - every optional property of a struct interface (one that is not an `IXxx` resource
 *   interface, as in aws-cdk-lib) says what happens when it is left out, with `@default`.
 */
import { DocNode } from '@microsoft/tsdoc';
import {
  ApiDocumentedItem, ApiItem, ApiItemKind, ApiPropertyItem, ApiProtectedMixin,
} from '@microsoft/api-extractor-model';
import type { ExtractedEntryPoint } from './extract';

/** What is missing on one API item. */
export interface DocProblem {
  readonly entryPoint: string;
  /** e.g. `MetaflowDatastoreProps.versioned` */
  readonly item: string;
  readonly problem: 'no summary' | 'no @default';
}

const MEMBER_KINDS: ReadonlySet<ApiItemKind> = new Set([
  ApiItemKind.Property, ApiItemKind.PropertySignature, ApiItemKind.Method, ApiItemKind.MethodSignature, ApiItemKind.EnumMember,
]);

/** Every documentation problem in the extracted entry points (empty when the API is documented). */
export function checkApiDocs(entryPoints: readonly ExtractedEntryPoint[]): DocProblem[] {
  const problems: DocProblem[] = [];
  for (const entry of entryPoints) {
    for (const item of entry.apiPackage.entryPoints[0].members) {
      const report = (target: ApiItem, problem: DocProblem['problem']) =>
        problems.push({ entryPoint: entry.importPath, item: target.getScopedNameWithinPackage(), problem });
      if (!hasSummary(item)) report(item, 'no summary');
      const struct = item.kind === ApiItemKind.Interface && !/^I[A-Z]/.test(item.displayName);
      for (const member of item.members) {
        if (!MEMBER_KINDS.has(member.kind)) continue;
        if (ApiProtectedMixin.isBaseClassOf(member) && member.isProtected) continue;
        if (!hasSummary(member)) report(member, 'no summary');
        if (struct && member instanceof ApiPropertyItem && member.isOptional && !hasDefault(member)) report(member, 'no @default');
      }
    }
  }
  return problems;
}

/** Has a doc comment whose summary says something (or inherits one with `{@inheritDoc}`). */
export function hasSummary(item: ApiItem): boolean {
  if (!(item instanceof ApiDocumentedItem) || !item.tsdocComment) return false;
  return item.tsdocComment.inheritDocTag !== undefined || textOf(item.tsdocComment.summarySection).trim() !== '';
}

/** Has a `@default` block. */
export function hasDefault(item: ApiItem): boolean {
  return item instanceof ApiDocumentedItem
    && item.tsdocComment?.customBlocks.some((block) => block.blockTag.tagNameWithUpperCase === '@DEFAULT') === true;
}

function textOf(node: DocNode): string {
  const own = (node as { text?: unknown; code?: unknown }).text ?? (node as { code?: unknown }).code;
  return (typeof own === 'string' ? own : '') + node.getChildNodes().map(textOf).join('');
}
