/**
 * Issue 8, "What it must show" 4: the driver conformance suite that runs against the Node emulator
 * (test/integration/devices/dispenser.test.ts) runs unchanged against the AVR firmware in simavr,
 * driven by the same johnny-five driver over serialport.
 */
import { dispenserConformance } from '../../conformance/dispenser.suite.js';
import { firmwareDispenserRig } from './firmware-rig.js';

dispenserConformance('AVR firmware in simavr', firmwareDispenserRig);
