/**
 * Plain jest + ts-jest + jsdom. The modules under test import no @jupyterlab/*
 * package (those are ES modules and would need babel, which @jupyterlab/testutils
 * brings along with the whole notebook stack the npm mirror here cannot resolve).
 */
module.exports = {
  testEnvironment: 'jsdom',
  setupFiles: ['<rootDir>/jest.setup.js'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
