import { useContainer } from 'class-validator';

/**
 * The instances class-validator makes of its constraint classes, one per class, found by a Map.
 *
 * Its own container finds an instance by walking an array of every one it has made, and it makes one per decorator
 * use that has validated something (each built-in decorator, `@IsString()` or `@Matches(…)`, brings a constraint class
 * of its own; the service's DTOs have over 400 of them), walked for every constraint of every field it validates. That
 * walk cost 22–37 K instructions per check and about 55 K per start (docs/performance-log.md, "A check's instructions on Node 24").
 */
class ConstraintInstances {
  private readonly instances = new Map<unknown, unknown>();

  get<T>(someClass: new () => T): T {
    let instance = this.instances.get(someClass) as T | undefined;
    if (instance === undefined) {
      instance = new someClass();
      this.instances.set(someClass, instance);
    }
    return instance;
  }
}

/** Hands class-validator the Map-backed container (once per process: class-validator's container is global). */
export function useConstraintInstances(): void {
  useContainer(new ConstraintInstances());
}
