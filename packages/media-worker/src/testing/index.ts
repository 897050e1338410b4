export { FakeSfu } from './fake-sfu.js';
