/*
 * Card dispenser mechanics: the DISPENSER sysex (devices/dispenser/PROTOCOL.md) as a state
 * machine, hardware-free. The firmware feeds it commands, sensor readings and a millisecond clock;
 * it answers through `emit` and says which way the motor must turn.
 *
 * Mechanics (firmware-owned pins D5..D8, PROTOCOL.md "Pins"): an H-bridge motor (forward moves the
 * card slot -> station -> tray, reverse pulls it back to the vault slot or into the capture bin)
 * and a position sensor that is HIGH while the carriage stands at a stop; a move has arrived when
 * that sensor rises again after having fallen. A card sensor at the chip station (D9, HIGH = a card
 * sits there) tells, when a move from a vault slot arrives, whether the slot held a card. A jam sensor (HIGH = jammed) ends a move when it
 * trips during the move; one still tripped from an earlier jam does not stop the move that pulls
 * the card free (RETRACT, RETURN_TO_SLOT) — if the card stays stuck, the time limit ends it.
 */
#ifndef CCCD_DISPENSER_H
#define CCCD_DISPENSER_H

#include <stdint.h>

#define DISPENSER_SYSEX 0x01

/* Host -> board ops. */
#define DISPENSER_OP_MOVE_TO_STATION 0x01
#define DISPENSER_OP_PRESENT 0x02
#define DISPENSER_OP_RETRACT 0x03
#define DISPENSER_OP_RETURN_TO_SLOT 0x04
#define DISPENSER_OP_STATUS 0x05
#define DISPENSER_OP_SENSORS 0x06

/* Board -> host events. */
#define DISPENSER_EVENT_ACCEPTED 0x10
#define DISPENSER_EVENT_DONE 0x11
#define DISPENSER_EVENT_FAULT 0x12
#define DISPENSER_EVENT_SENSOR 0x13
#define DISPENSER_EVENT_STATE 0x14
#define DISPENSER_EVENT_SENSORS 0x15

/* SENSORS bits: what the card sensors see now (PROTOCOL.md). */
#define DISPENSER_SENSE_TRAY 0x01
#define DISPENSER_SENSE_STATION 0x02
#define DISPENSER_SENSE_AT_STOP 0x04 /* the carriage stands at a stop (D7): a reset did not catch it mid-move */

/* DONE codes: the position reached. */
#define DISPENSER_AT_STATION 1
#define DISPENSER_AT_TRAY 2
#define DISPENSER_AT_CAPTURE_BIN 3
#define DISPENSER_AT_SLOT 4

/* FAULT codes. */
#define DISPENSER_FAULT_JAM 1
#define DISPENSER_FAULT_MOTOR_TIMEOUT 2
#define DISPENSER_FAULT_BUSY 3
#define DISPENSER_FAULT_BAD_ARGUMENT 4
#define DISPENSER_FAULT_NO_CARD 5
#define DISPENSER_FAULT_NOT_ALLOWED 6

/* SENSOR codes (unsolicited, seq DISPENSER_SEQ_UNSOLICITED). */
#define DISPENSER_SENSOR_CARD_TAKEN 1
#define DISPENSER_SENSOR_CARD_PLACED 2
#define DISPENSER_SEQ_UNSOLICITED 0x7F

/* STATE codes. */
typedef enum {
  DISPENSER_IDLE = 0,
  DISPENSER_MOVING = 1,
  DISPENSER_CARD_AT_STATION = 2,
  DISPENSER_CARD_IN_TRAY = 3,
  DISPENSER_FAULTED = 4,
} dispenser_state_t;

typedef enum { MOTOR_OFF = 0, MOTOR_FORWARD = 1, MOTOR_REVERSE = 2 } motor_drive_t;

#define DISPENSER_MAX_SLOT 63
/* Every move ends by this limit at the latest, so the motor never runs longer whatever the host
   does (PROTOCOL.md "Rules": a host lost mid-move cannot leave it running). */
#define DISPENSER_MOVE_LIMIT_MS 3000u

typedef void (*dispenser_emit_fn)(void *ctx, uint8_t event, uint8_t seq, uint8_t code);

typedef struct dispenser_inputs {
  uint8_t position; /* 1 = carriage at a stop */
  uint8_t jam;      /* 1 = jam sensor tripped */
  uint8_t tray;     /* 1 = a card lies in the tray (D2) */
  uint8_t station;  /* 1 = a card sits at the chip station (D9) */
} dispenser_inputs_t;

typedef struct dispenser {
  dispenser_emit_fn emit;
  void *ctx;
  dispenser_state_t state;
  motor_drive_t motor;
  uint8_t seq;         /* of the move in progress */
  uint8_t destination; /* DONE code of the move in progress */
  uint8_t left_stop;   /* position sensor seen LOW since the move started */
  uint8_t jam_clear;   /* jam sensor seen LOW since the move started */
  uint8_t tray;        /* last tray reading, for edge detection */
  uint8_t station;     /* last card-at-station reading (D9), for SENSORS */
  uint8_t at_stop;     /* last position reading (D7), for SENSORS */
  uint32_t started_ms;
} dispenser_t;

/* Motor off. The state comes from the card sensors at start (a reset, the watchdog's included,
   must not forget a card the mechanics hold): a card at the station (D9) -> card at station, one
   in the tray (D2) -> card in tray, both -> faulted (the host retracts), none -> idle. */
void dispenser_init(dispenser_t *dispenser, dispenser_emit_fn emit, void *ctx, const dispenser_inputs_t *inputs);
/* Sends SENSORS (tray, card-at-station and carriage-at-a-stop bits) with `seq`: on boot unsolicited, or a query's reply. */
void dispenser_report_sensors(dispenser_t *dispenser, uint8_t seq);
/* One DISPENSER sysex payload: op, seq, arg (the sysex command byte already removed). */
void dispenser_command(dispenser_t *dispenser, const uint8_t *payload, uint8_t length, uint32_t now_ms);
/* Called every main-loop pass with fresh sensor readings. */
void dispenser_poll(dispenser_t *dispenser, const dispenser_inputs_t *inputs, uint32_t now_ms);
/* Stops the motor; a move in progress ends in the fault state (the host's Firmata SYSTEM_RESET). */
void dispenser_stop(dispenser_t *dispenser, uint8_t fault_code);

#endif
