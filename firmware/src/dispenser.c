#include "dispenser.h"

void dispenser_init(dispenser_t *d, dispenser_emit_fn emit, void *ctx, const dispenser_inputs_t *in) {
  const uint8_t tray = in->tray ? 1 : 0;
  const uint8_t station = in->station ? 1 : 0;
  d->emit = emit;
  d->ctx = ctx;
  d->state = tray && station ? DISPENSER_FAULTED
             : station       ? DISPENSER_CARD_AT_STATION
             : tray          ? DISPENSER_CARD_IN_TRAY
                             : DISPENSER_IDLE;
  d->motor = MOTOR_OFF;
  d->seq = 0;
  d->destination = 0;
  d->left_stop = 0;
  d->jam_clear = 0;
  d->tray = tray ? 1 : 0;
  d->station = station;
  d->at_stop = in->position ? 1 : 0;
  d->started_ms = 0;
}

void dispenser_report_sensors(dispenser_t *d, uint8_t seq) {
  const uint8_t bits = (uint8_t)((d->tray ? DISPENSER_SENSE_TRAY : 0) | (d->station ? DISPENSER_SENSE_STATION : 0) |
                                 (d->at_stop ? DISPENSER_SENSE_AT_STOP : 0));
  d->emit(d->ctx, DISPENSER_EVENT_SENSORS, seq, bits);
}

static void start_move(dispenser_t *d, uint8_t seq, motor_drive_t motor, uint8_t destination,
                       uint32_t now_ms) {
  d->state = DISPENSER_MOVING;
  d->motor = motor;
  d->seq = seq;
  d->destination = destination;
  d->left_stop = 0;
  d->jam_clear = 0;
  d->started_ms = now_ms;
  d->emit(d->ctx, DISPENSER_EVENT_ACCEPTED, seq, 0);
}

/* PROTOCOL.md "Rules": refused commands get one FAULT, without ACCEPTED. */
static void refuse(dispenser_t *d, uint8_t seq, uint8_t code) {
  d->emit(d->ctx, DISPENSER_EVENT_FAULT, seq, code);
}

void dispenser_command(dispenser_t *d, const uint8_t *payload, uint8_t length, uint32_t now_ms) {
  /* Malformed payloads are answered when a seq can be read, so the host is never left waiting. */
  if (length < 3) {
    if (length >= 2) refuse(d, payload[1], DISPENSER_FAULT_BAD_ARGUMENT);
    return;
  }
  const uint8_t op = payload[0];
  const uint8_t seq = payload[1];
  const uint8_t arg = payload[2];
  if (length != 3) {
    refuse(d, seq, DISPENSER_FAULT_BAD_ARGUMENT);
    return;
  }
  if (op == DISPENSER_OP_STATUS) {
    d->emit(d->ctx, DISPENSER_EVENT_STATE, seq, (uint8_t)d->state);
    return;
  }
  if (op == DISPENSER_OP_SENSORS) {
    if (arg != 0) return refuse(d, seq, DISPENSER_FAULT_BAD_ARGUMENT);
    return dispenser_report_sensors(d, seq);
  }
  if (op < DISPENSER_OP_MOVE_TO_STATION || op > DISPENSER_OP_RETURN_TO_SLOT) {
    refuse(d, seq, DISPENSER_FAULT_BAD_ARGUMENT);
    return;
  }
  const uint8_t takes_slot = op == DISPENSER_OP_MOVE_TO_STATION || op == DISPENSER_OP_RETURN_TO_SLOT;
  if ((takes_slot && arg > DISPENSER_MAX_SLOT) || (!takes_slot && arg != 0)) {
    refuse(d, seq, DISPENSER_FAULT_BAD_ARGUMENT);
    return;
  }
  if (d->state == DISPENSER_MOVING) {
    refuse(d, seq, DISPENSER_FAULT_BUSY);
    return;
  }
  switch (op) {
    case DISPENSER_OP_MOVE_TO_STATION:
      if (d->state != DISPENSER_IDLE) return refuse(d, seq, DISPENSER_FAULT_NOT_ALLOWED);
      return start_move(d, seq, MOTOR_FORWARD, DISPENSER_AT_STATION, now_ms);
    /* PROTOCOL.md: "no card" is only the card sensor's verdict on a move from a slot; a command
       that needs a card where the mechanics hold none is "not allowed in this state". */
    case DISPENSER_OP_PRESENT:
      if (d->state != DISPENSER_CARD_AT_STATION) return refuse(d, seq, DISPENSER_FAULT_NOT_ALLOWED);
      return start_move(d, seq, MOTOR_FORWARD, DISPENSER_AT_TRAY, now_ms);
    case DISPENSER_OP_RETRACT:
      if (d->state == DISPENSER_IDLE) return refuse(d, seq, DISPENSER_FAULT_NOT_ALLOWED);
      return start_move(d, seq, MOTOR_REVERSE, DISPENSER_AT_CAPTURE_BIN, now_ms);
    default: /* DISPENSER_OP_RETURN_TO_SLOT */
      if (d->state == DISPENSER_IDLE || d->state == DISPENSER_CARD_IN_TRAY)
        return refuse(d, seq, DISPENSER_FAULT_NOT_ALLOWED);
      return start_move(d, seq, MOTOR_REVERSE, DISPENSER_AT_SLOT, now_ms);
  }
}

static void end_move_with_fault(dispenser_t *d, uint8_t code) {
  d->motor = MOTOR_OFF;
  d->state = DISPENSER_FAULTED;
  d->emit(d->ctx, DISPENSER_EVENT_FAULT, d->seq, code);
}

void dispenser_stop(dispenser_t *d, uint8_t fault_code) {
  if (d->state == DISPENSER_MOVING) end_move_with_fault(d, fault_code);
  d->motor = MOTOR_OFF;
}

static void watch_move(dispenser_t *d, const dispenser_inputs_t *in, uint32_t now_ms) {
  if (!in->jam) d->jam_clear = 1;
  if (in->jam && d->jam_clear) return end_move_with_fault(d, DISPENSER_FAULT_JAM);
  if (!in->position) d->left_stop = 1;
  if (d->left_stop && in->position) {
    d->motor = MOTOR_OFF;
    switch (d->destination) {
      case DISPENSER_AT_STATION:
        /* PROTOCOL.md: the slot was empty when the station's card sensor sees nothing on arrival;
           nothing was moved, so the mechanics are idle again. */
        if (!in->station) {
          d->state = DISPENSER_IDLE;
          d->emit(d->ctx, DISPENSER_EVENT_FAULT, d->seq, DISPENSER_FAULT_NO_CARD);
          return;
        }
        d->state = DISPENSER_CARD_AT_STATION;
        break;
      case DISPENSER_AT_TRAY:
        d->state = DISPENSER_CARD_IN_TRAY;
        break;
      default:
        d->state = DISPENSER_IDLE;
        break;
    }
    d->emit(d->ctx, DISPENSER_EVENT_DONE, d->seq, d->destination);
    return;
  }
  /* Unsigned subtraction: correct across the millisecond counter's wrap. */
  if ((uint32_t)(now_ms - d->started_ms) >= DISPENSER_MOVE_LIMIT_MS)
    return end_move_with_fault(d, DISPENSER_FAULT_MOTOR_TIMEOUT);
}

void dispenser_poll(dispenser_t *d, const dispenser_inputs_t *in, uint32_t now_ms) {
  const uint8_t tray = in->tray ? 1 : 0;
  d->station = in->station ? 1 : 0;
  d->at_stop = in->position ? 1 : 0;
  if (d->state == DISPENSER_MOVING) {
    watch_move(d, in, now_ms);
    /* A card the mechanics moved into or out of the tray is told by DONE, not by SENSOR. */
    if (d->state != DISPENSER_MOVING) d->tray = tray;
  }
  if (tray != d->tray && d->state != DISPENSER_MOVING) {
    d->tray = tray;
    if (!tray) {
      if (d->state == DISPENSER_CARD_IN_TRAY) d->state = DISPENSER_IDLE;
      d->emit(d->ctx, DISPENSER_EVENT_SENSOR, DISPENSER_SEQ_UNSOLICITED, DISPENSER_SENSOR_CARD_TAKEN);
    } else {
      if (d->state == DISPENSER_IDLE) d->state = DISPENSER_CARD_IN_TRAY;
      d->emit(d->ctx, DISPENSER_EVENT_SENSOR, DISPENSER_SEQ_UNSOLICITED, DISPENSER_SENSOR_CARD_PLACED);
    }
  }
}
