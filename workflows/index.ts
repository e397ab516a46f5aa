/** Every workflow the worker runs. The worker bundles this file (and only what it imports). */
export { deploymentWorkflow } from './deployment/workflow';
export { rolloutWorkflow } from './rollout/workflow';
export { quotaWorkflow } from './quota/workflow';
