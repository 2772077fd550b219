// What one step of `skiff setup aws` did to one resource, for its report: a rerun with nothing new says `exists`
// for every line, and the command says "nothing changed".
export type Outcome = 'created' | 'updated' | 'exists';

export interface ResourceLine {
  kind: string;
  id: string;
  outcome: Outcome;
}
