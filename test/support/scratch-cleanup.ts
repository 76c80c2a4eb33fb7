/** jest setupFilesAfterEnv: after each test file, remove its scratch directories (`scratch-dir.ts`). */
import { removeScratchDirs } from "./scratch-dir";

afterAll(removeScratchDirs);
