import { getFromContainer, IsString, Matches, validateSync } from 'class-validator';
import { useConstraintInstances } from './validator-container';

class Probe {
  @IsString()
  @Matches(/^\d+$/)
  code!: string;
}

describe('useConstraintInstances', () => {
  it('class-validator then takes its constraint instances from a Map: one per class, and validation works as before', () => {
    useConstraintInstances();
    class SomeConstraint {}
    const first = getFromContainer(SomeConstraint);
    expect(first).toBeInstanceOf(SomeConstraint);
    expect(getFromContainer(SomeConstraint)).toBe(first);
    expect(validateSync(Object.assign(new Probe(), { code: '123' }))).toEqual([]);
    const errors = validateSync(Object.assign(new Probe(), { code: 'abc' }));
    expect(errors.map((e) => Object.keys(e.constraints ?? {}))).toEqual([['matches']]);
  });
});
