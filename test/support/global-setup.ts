/** jest global setup: one compiled build per run for the tests that start kvroute as a process. */
import { buildOnce } from "./compiled-build";

export default function globalSetup(): void {
  buildOnce();
}
