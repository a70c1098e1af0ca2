/**
 * CDK adds `DependsOn` entries that the resource's own `Ref` / `Fn::GetAtt` already imply
 * (Lambda roles, ECS service target groups, provider frameworks). CloudFormation orders them the
 * same either way, but cfn-lint warns (W3005). This removes exactly those entries.
 */

/** Logical ids a value references through Ref or Fn::GetAtt (including Fn::Sub's ${Id} / ${Id.Attr}). */
function referencedIds(value: unknown, found: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedIds(item, found);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'Ref' && typeof inner === 'string') found.add(inner);
      else if (key === 'Fn::GetAtt' && Array.isArray(inner) && typeof inner[0] === 'string') found.add(inner[0]);
      else if (key === 'Fn::GetAtt' && typeof inner === 'string') found.add(inner.split('.')[0]);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(inner) ? inner[0] : inner;
        if (typeof text === 'string') for (const match of text.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) found.add(match[1]);
        referencedIds(inner, found);
      } else referencedIds(inner, found);
    }
  }
  return found;
}

interface TemplateResource {
  DependsOn?: string | string[];
  Properties?: unknown;
  [key: string]: unknown;
}

/** Return the template with every DependsOn entry that a Ref/GetAtt in the same resource implies removed. */
export function withoutRedundantDependsOn<T extends { Resources?: Record<string, TemplateResource> }>(template: T): T {
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.DependsOn === undefined) continue;
    const { DependsOn: dependsOn, ...rest } = resource;
    const implied = referencedIds(rest);
    const kept = [dependsOn].flat().filter((id) => !implied.has(id));
    if (kept.length === 0) delete resource.DependsOn;
    else resource.DependsOn = kept.length === 1 && !Array.isArray(dependsOn) ? kept[0] : kept;
  }
  return template;
}
