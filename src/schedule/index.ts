// Public entry point of the schedule module: learning-rate forms and GR policies.
export { LR_FORMS, learningRate, validateLrSchedule, warmupFactor } from './lr.js';
export type { LrForm, LrSchedule } from './lr.js';
export { GR_POLICIES, grAt, validateGrConfig } from './gr-policy.js';
export type { GrConfig, GrPolicy, GrStep } from './gr-policy.js';
