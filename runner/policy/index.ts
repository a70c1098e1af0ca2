/** The one module that owns step policies: types, defaults, validation, normalisation. */
export * from './types';
export * from './validate';
export * from './normalize';
export * from './batch';
