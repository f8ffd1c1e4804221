// The CLI's first import, before the modules it loads: see holdYoungGenerationWhileStarting.
import { holdYoungGenerationWhileStarting } from '../store/memory/reclaim.js';

holdYoungGenerationWhileStarting();
