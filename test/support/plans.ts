/** A node of PostgreSQL's EXPLAIN (FORMAT JSON) plan, as far as the plan tests read it. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** Every scan of `relation` in a plan (sequential, index, index-only, bitmap heap…), in plan order. */
export function scansOf(node: PlanNode, relation: string, out: PlanNode[] = []): PlanNode[] {
  if (node['Relation Name'] === relation && node['Node Type'].endsWith('Scan')) out.push(node);
  for (const child of node.Plans ?? []) scansOf(child, relation, out);
  return out;
}
