/** jest global teardown: removes the run's compiled build. */
import { removeBuild } from "./compiled-build";

export default function globalTeardown(): void {
  removeBuild();
}
