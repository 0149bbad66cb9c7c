/*
 * Host tests of the firmware's hardware-free logic: the Firmata parser (firmata.c) and the
 * DISPENSER state machine (dispenser.c), built with the host compiler under ASan/UBSan.
 * Output is TAP ("ok N - name" / "not ok N - name # detail"), read by test/unit/firmware.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispenser.h"
#include "firmata.h"

static int test_number, failures, current_failed;
static char current_detail[256];

#define CHECK(condition, ...)                                                               \
  do {                                                                                       \
    if (!(condition) && !current_failed) {                                                   \
      current_failed = 1;                                                                    \
      snprintf(current_detail, sizeof(current_detail), "line %d: " #condition, __LINE__);   \
    }                                                                                        \
  } while (0)

static void run(const char *name, void (*test)(void)) {
  current_failed = 0;
  current_detail[0] = 0;
  test();
  test_number++;
  if (current_failed) {
    failures++;
    printf("not ok %d - %s # %s\n", test_number, name, current_detail);
  } else {
    printf("ok %d - %s\n", test_number, name);
  }
}

/* Deterministic pseudo-random bytes (xorshift32), so a failure can be replayed. */
static uint32_t rng_state;
static uint32_t next_random(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* ---- Firmata parser ----------------------------------------------------------------------------- */

typedef struct recorder {
  int versions, resets, digitals, analogs, report_analogs, report_digitals, pin_modes, pin_values, sysexes;
  uint8_t last_port, last_value8, last_pin, last_mode, last_channel, last_enable;
  uint16_t last_value16;
  uint8_t sysex_command, sysex_length;
  uint8_t sysex_data[FIRMATA_SYSEX_MAX + 8];
} recorder_t;

static void r_version(void *c) { ((recorder_t *)c)->versions++; }
static void r_reset(void *c) { ((recorder_t *)c)->resets++; }
/* A recording handler for a two-argument callback: counts the call, keeps both arguments. */
#define RECORDER(name, counter, field_a, type_b, field_b)    \
  static void name(void *c, uint8_t a, type_b b) {         \
    recorder_t *r = c;                                      \
    r->counter++, r->field_a = a, r->field_b = b;           \
  }
RECORDER(r_digital, digitals, last_port, uint8_t, last_value8)
RECORDER(r_analog, analogs, last_pin, uint16_t, last_value16)
RECORDER(r_report_analog, report_analogs, last_channel, uint8_t, last_enable)
RECORDER(r_report_digital, report_digitals, last_port, uint8_t, last_enable)
RECORDER(r_pin_mode, pin_modes, last_pin, uint8_t, last_mode)
RECORDER(r_pin_value, pin_values, last_pin, uint8_t, last_value8)
static void r_sysex(void *c, uint8_t command, const uint8_t *data, uint8_t length) {
  recorder_t *r = c;
  r->sysexes++, r->sysex_command = command, r->sysex_length = length;
  if (length > FIRMATA_SYSEX_MAX) { /* the parser promised never to deliver more */
    r->sysex_length = 0xFF;
    return;
  }
  memcpy(r->sysex_data, data, length);
}

static const firmata_handlers_t recording = {r_version,        r_reset,    r_digital,   r_analog, r_report_analog,
                                             r_report_digital, r_pin_mode, r_pin_value, r_sysex};

static firmata_parser_t parser;
static recorder_t rec;

static void fresh_parser(void) {
  memset(&rec, 0, sizeof(rec));
  firmata_parser_init(&parser, &recording, &rec);
}

static void feed(const uint8_t *bytes, size_t length) {
  for (size_t i = 0; i < length; i++) firmata_parser_feed(&parser, bytes[i]);
}
#define FEED(...)                                  \
  do {                                             \
    const uint8_t bytes_[] = {__VA_ARGS__};        \
    feed(bytes_, sizeof(bytes_));                  \
  } while (0)

static void parses_every_message_type(void) {
  fresh_parser();
  FEED(0xF9);
  CHECK(rec.versions == 1);
  FEED(0x91, 0x25, 0x01); /* port 1 = 0xA5 */
  CHECK(rec.digitals == 1 && rec.last_port == 1 && rec.last_value8 == 0xA5);
  FEED(0xE3, 0x7F, 0x01); /* pin 3 = 255 */
  CHECK(rec.analogs == 1 && rec.last_pin == 3 && rec.last_value16 == 255);
  FEED(0xC2, 0x01);
  CHECK(rec.report_analogs == 1 && rec.last_channel == 2 && rec.last_enable == 1);
  FEED(0xD0, 0x01);
  CHECK(rec.report_digitals == 1 && rec.last_port == 0 && rec.last_enable == 1);
  FEED(0xF4, 0x0D, 0x01);
  CHECK(rec.pin_modes == 1 && rec.last_pin == 13 && rec.last_mode == 1);
  FEED(0xF5, 0x04, 0x01);
  CHECK(rec.pin_values == 1 && rec.last_pin == 4 && rec.last_value8 == 1);
  FEED(0xFF);
  CHECK(rec.resets == 1);
  FEED(0xF0, 0x01, 0x01, 0x05, 0x07, 0xF7);
  CHECK(rec.sysexes == 1 && rec.sysex_command == 0x01 && rec.sysex_length == 3);
  CHECK(rec.sysex_data[0] == 0x01 && rec.sysex_data[1] == 0x05 && rec.sysex_data[2] == 0x07);
  CHECK(parser.dropped == 0);
}

static void sysex_with_no_payload_is_delivered(void) {
  fresh_parser();
  FEED(0xF0, 0x6B, 0xF7);
  CHECK(rec.sysexes == 1 && rec.sysex_command == 0x6B && rec.sysex_length == 0);
}

static void empty_sysex_is_dropped(void) {
  fresh_parser();
  FEED(0xF0, 0xF7);
  CHECK(rec.sysexes == 0 && parser.dropped == 1);
}

static void truncated_sysex_is_dropped_and_next_command_runs(void) {
  fresh_parser();
  FEED(0xF0, 0x01, 0x01, 0x05, /* no END_SYSEX */ 0xF9);
  CHECK(rec.sysexes == 0);
  CHECK(rec.versions == 1);
  CHECK(parser.dropped == 1);
  FEED(0xF0, 0x01, 0x05, 0x09, /* a new START_SYSEX inside */ 0xF0, 0x79, 0xF7);
  CHECK(rec.sysexes == 1 && rec.sysex_command == 0x79 && rec.sysex_length == 0);
}

static void truncated_command_is_dropped(void) {
  fresh_parser();
  FEED(0x90, 0x01, /* one data byte missing */ 0xF9, 0x01, 0x02);
  CHECK(rec.digitals == 0);
  CHECK(rec.versions == 1);
  CHECK(parser.dropped >= 1);
}

static void oversized_sysex_is_dropped_whole(void) {
  fresh_parser();
  firmata_parser_feed(&parser, 0xF0);
  firmata_parser_feed(&parser, 0x01);
  for (int i = 0; i < 1000; i++) firmata_parser_feed(&parser, (uint8_t)(i & 0x7F));
  firmata_parser_feed(&parser, 0xF7);
  CHECK(rec.sysexes == 0);
  CHECK(parser.dropped == 1);
  FEED(0xF0, 0x01, 0x05, 0x2A, 0x00, 0xF7);
  CHECK(rec.sysexes == 1 && rec.sysex_length == 3 && rec.sysex_data[1] == 0x2A);
}

static void sysex_of_exactly_the_maximum_is_kept(void) {
  fresh_parser();
  firmata_parser_feed(&parser, 0xF0);
  firmata_parser_feed(&parser, 0x01);
  for (int i = 0; i < FIRMATA_SYSEX_MAX; i++) firmata_parser_feed(&parser, (uint8_t)i);
  firmata_parser_feed(&parser, 0xF7);
  CHECK(rec.sysexes == 1 && rec.sysex_length == FIRMATA_SYSEX_MAX);
  CHECK(rec.sysex_data[FIRMATA_SYSEX_MAX - 1] == FIRMATA_SYSEX_MAX - 1);
  fresh_parser();
  firmata_parser_feed(&parser, 0xF0);
  firmata_parser_feed(&parser, 0x01);
  for (int i = 0; i < FIRMATA_SYSEX_MAX + 1; i++) firmata_parser_feed(&parser, (uint8_t)i);
  firmata_parser_feed(&parser, 0xF7);
  CHECK(rec.sysexes == 0);
}

static void stray_data_bytes_are_ignored(void) {
  fresh_parser();
  FEED(0x01, 0x02, 0x7F, 0xF7, 0x00);
  CHECK(rec.versions + rec.digitals + rec.sysexes == 0);
  CHECK(parser.dropped == 5);
  FEED(0xF9);
  CHECK(rec.versions == 1);
}

/* Firmata "what it must show" 3: whatever came before, a valid query is answered. */
static void garbage_then_a_valid_query_is_answered(void) {
  for (uint32_t seed = 1; seed <= 2000; seed++) {
    fresh_parser();
    rng_state = seed * 2654435761u;
    size_t length = next_random() % 600;
    for (size_t i = 0; i < length; i++) firmata_parser_feed(&parser, (uint8_t)next_random());
    int sysexes_before = rec.sysexes;
    FEED(0xF0, 0x6B, 0xF7);
    CHECK(rec.sysexes == sysexes_before + 1);
    CHECK(rec.sysex_command == 0x6B && rec.sysex_length == 0);
    int versions_before = rec.versions;
    FEED(0xF9);
    CHECK(rec.versions == versions_before + 1);
    CHECK(rec.sysex_length <= FIRMATA_SYSEX_MAX);
  }
}

/* ---- Dispenser state machine -------------------------------------------------------------------- */

typedef struct emitted {
  uint8_t event, seq, code;
} emitted_t;

static emitted_t events[64];
static int event_count;
static dispenser_t dispenser;
static dispenser_inputs_t inputs;
static uint32_t clock_ms;

static void record_event(void *ctx, uint8_t event, uint8_t seq, uint8_t code) {
  (void)ctx;
  if (event_count < (int)(sizeof(events) / sizeof(events[0]))) events[event_count++] = (emitted_t){event, seq, code};
}

static void fresh_dispenser(uint32_t start_ms) {
  event_count = 0;
  clock_ms = start_ms;
  memset(&inputs, 0, sizeof(inputs));
  inputs.position = 1;
  const dispenser_inputs_t at_rest = {.position = 1};
  dispenser_init(&dispenser, record_event, NULL, &at_rest);
  inputs.station = 1; /* the vault slot holds a card unless a test empties it */
}

static void command(uint8_t op, uint8_t seq, uint8_t arg) {
  const uint8_t payload[] = {op, seq, arg};
  dispenser_command(&dispenser, payload, 3, clock_ms);
}

static void advance(uint32_t ms) {
  for (uint32_t i = 0; i < ms; i++) {
    clock_ms++;
    dispenser_poll(&dispenser, &inputs, clock_ms);
  }
}

/* Reference mechanics: the carriage leaves its stop, then reaches the next after `travel_ms`. */
static void travel(uint32_t travel_ms) {
  inputs.position = 0;
  advance(travel_ms);
  inputs.position = 1;
  advance(1);
}

static int has_event(int index, uint8_t event, uint8_t seq, uint8_t code) {
  return index < event_count && events[index].event == event && events[index].seq == seq &&
         events[index].code == code;
}

/* Sends a command and tells whether it was refused at once with exactly one FAULT `code`. */
static int refused(uint8_t op, uint8_t seq, uint8_t arg, uint8_t code) {
  int before = event_count;
  command(op, seq, arg);
  return event_count == before + 1 && has_event(before, DISPENSER_EVENT_FAULT, seq, code);
}

static void full_dispense_cycle(void) {
  fresh_dispenser(0);
  command(DISPENSER_OP_MOVE_TO_STATION, 10, 7);
  CHECK(has_event(0, DISPENSER_EVENT_ACCEPTED, 10, 0));
  CHECK(dispenser.motor == MOTOR_FORWARD && dispenser.state == DISPENSER_MOVING);
  travel(800);
  CHECK(has_event(1, DISPENSER_EVENT_DONE, 10, DISPENSER_AT_STATION));
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_CARD_AT_STATION);
  command(DISPENSER_OP_PRESENT, 11, 0);
  CHECK(has_event(2, DISPENSER_EVENT_ACCEPTED, 11, 0));
  inputs.position = 0;
  advance(580);
  inputs.tray = 1; /* the card lands in the tray just before the carriage stops */
  advance(20);
  inputs.position = 1;
  advance(1);
  CHECK(has_event(3, DISPENSER_EVENT_DONE, 11, DISPENSER_AT_TRAY));
  CHECK(dispenser.state == DISPENSER_CARD_IN_TRAY);
  advance(50);
  CHECK(event_count == 4); /* no SENSOR "placed" for the card the mechanics brought */
  inputs.tray = 0;
  advance(1);
  CHECK(has_event(4, DISPENSER_EVENT_SENSOR, DISPENSER_SEQ_UNSOLICITED, DISPENSER_SENSOR_CARD_TAKEN));
  CHECK(dispenser.state == DISPENSER_IDLE);
  command(DISPENSER_OP_STATUS, 12, 0);
  CHECK(has_event(5, DISPENSER_EVENT_STATE, 12, DISPENSER_IDLE));
  CHECK(event_count == 6);
}

static void return_to_slot_and_retract(void) {
  fresh_dispenser(0);
  command(DISPENSER_OP_MOVE_TO_STATION, 1, 0);
  travel(800);
  command(DISPENSER_OP_RETURN_TO_SLOT, 2, 63);
  CHECK(has_event(2, DISPENSER_EVENT_ACCEPTED, 2, 0) && dispenser.motor == MOTOR_REVERSE);
  travel(800);
  CHECK(has_event(3, DISPENSER_EVENT_DONE, 2, DISPENSER_AT_SLOT) && dispenser.state == DISPENSER_IDLE);
  command(DISPENSER_OP_MOVE_TO_STATION, 3, 1);
  travel(800);
  command(DISPENSER_OP_RETRACT, 4, 0);
  CHECK(dispenser.motor == MOTOR_REVERSE);
  travel(700);
  CHECK(has_event(7, DISPENSER_EVENT_DONE, 4, DISPENSER_AT_CAPTURE_BIN) && dispenser.state == DISPENSER_IDLE);
}

/* Starts a move whose card jams `after_ms` into it. */
static void jam_during_move(uint8_t op, uint8_t seq, uint8_t arg, uint32_t after_ms) {
  command(op, seq, arg);
  inputs.position = 0;
  advance(after_ms);
  inputs.jam = 1;
  advance(1);
}

static void jam_stops_the_motor_until_retract(void) {
  fresh_dispenser(0);
  jam_during_move(DISPENSER_OP_MOVE_TO_STATION, 20, 3, 300);
  CHECK(has_event(1, DISPENSER_EVENT_FAULT, 20, DISPENSER_FAULT_JAM));
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_FAULTED);
  advance(5000);
  CHECK(event_count == 2); /* one FAULT, no DONE or timeout afterwards */
  CHECK(refused(DISPENSER_OP_PRESENT, 21, 0, DISPENSER_FAULT_NOT_ALLOWED));
  CHECK(refused(DISPENSER_OP_MOVE_TO_STATION, 22, 0, DISPENSER_FAULT_NOT_ALLOWED));
  command(DISPENSER_OP_STATUS, 23, 0);
  CHECK(has_event(4, DISPENSER_EVENT_STATE, 23, DISPENSER_FAULTED));
  /* the jam sensor is still tripped when the motor reverses; it clears as the card comes free */
  command(DISPENSER_OP_RETRACT, 24, 0);
  CHECK(has_event(5, DISPENSER_EVENT_ACCEPTED, 24, 0) && dispenser.motor == MOTOR_REVERSE);
  inputs.position = 0;
  advance(50);
  CHECK(event_count == 6 && dispenser.motor == MOTOR_REVERSE);
  inputs.jam = 0;
  travel(650);
  CHECK(has_event(6, DISPENSER_EVENT_DONE, 24, DISPENSER_AT_CAPTURE_BIN) && dispenser.state == DISPENSER_IDLE);
}

static void a_jam_that_never_clears_ends_in_a_timeout(void) {
  fresh_dispenser(0);
  jam_during_move(DISPENSER_OP_MOVE_TO_STATION, 25, 0, 10);
  CHECK(has_event(1, DISPENSER_EVENT_FAULT, 25, DISPENSER_FAULT_JAM));
  command(DISPENSER_OP_RETURN_TO_SLOT, 26, 0);
  advance(DISPENSER_MOVE_LIMIT_MS);
  CHECK(has_event(3, DISPENSER_EVENT_FAULT, 26, DISPENSER_FAULT_MOTOR_TIMEOUT) && dispenser.motor == MOTOR_OFF);
  /* a jam that trips again after clearing is a new jam */
  inputs.jam = 0;
  jam_during_move(DISPENSER_OP_RETRACT, 27, 0, 10);
  CHECK(has_event(5, DISPENSER_EVENT_FAULT, 27, DISPENSER_FAULT_JAM));
}

static void motor_timeout_after_the_move_limit(void) {
  fresh_dispenser(0);
  command(DISPENSER_OP_MOVE_TO_STATION, 30, 0);
  inputs.position = 0;
  advance(DISPENSER_MOVE_LIMIT_MS - 1);
  CHECK(event_count == 1 && dispenser.motor == MOTOR_FORWARD);
  advance(1);
  CHECK(has_event(1, DISPENSER_EVENT_FAULT, 30, DISPENSER_FAULT_MOTOR_TIMEOUT));
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_FAULTED);
  command(DISPENSER_OP_RETURN_TO_SLOT, 31, 5);
  CHECK(has_event(2, DISPENSER_EVENT_ACCEPTED, 31, 0));
}

static void position_sensor_must_leave_the_stop_first(void) {
  fresh_dispenser(0);
  command(DISPENSER_OP_MOVE_TO_STATION, 40, 0);
  advance(2000); /* sensor stays HIGH: the carriage never left, no false arrival */
  CHECK(event_count == 1 && dispenser.state == DISPENSER_MOVING);
  advance(1000);
  CHECK(has_event(1, DISPENSER_EVENT_FAULT, 40, DISPENSER_FAULT_MOTOR_TIMEOUT));
}

static void timeout_across_the_millisecond_wrap(void) {
  fresh_dispenser(0xFFFFFF00u);
  command(DISPENSER_OP_MOVE_TO_STATION, 41, 0);
  inputs.position = 0;
  advance(1000); /* the clock wraps past zero here */
  CHECK(event_count == 1 && dispenser.state == DISPENSER_MOVING);
  advance(2000);
  CHECK(has_event(1, DISPENSER_EVENT_FAULT, 41, DISPENSER_FAULT_MOTOR_TIMEOUT));
}

static void busy_while_moving(void) {
  fresh_dispenser(0);
  command(DISPENSER_OP_MOVE_TO_STATION, 50, 0);
  CHECK(refused(DISPENSER_OP_RETRACT, 51, 0, DISPENSER_FAULT_BUSY));
  command(DISPENSER_OP_STATUS, 52, 0);
  CHECK(has_event(2, DISPENSER_EVENT_STATE, 52, DISPENSER_MOVING));
  CHECK(dispenser.state == DISPENSER_MOVING && dispenser.seq == 50);
  travel(800);
  CHECK(has_event(3, DISPENSER_EVENT_DONE, 50, DISPENSER_AT_STATION));
}

static void bad_arguments_and_states(void) {
  fresh_dispenser(0);
  CHECK(refused(DISPENSER_OP_MOVE_TO_STATION, 60, 64, DISPENSER_FAULT_BAD_ARGUMENT));
  CHECK(refused(0x07, 61, 0, DISPENSER_FAULT_BAD_ARGUMENT));
  CHECK(refused(0x00, 62, 0, DISPENSER_FAULT_BAD_ARGUMENT));
  CHECK(refused(DISPENSER_OP_PRESENT, 63, 1, DISPENSER_FAULT_BAD_ARGUMENT));
  /* no card anywhere: "not allowed in this state" ("no card" is the station sensor's verdict) */
  CHECK(refused(DISPENSER_OP_PRESENT, 64, 0, DISPENSER_FAULT_NOT_ALLOWED));
  CHECK(refused(DISPENSER_OP_RETRACT, 65, 0, DISPENSER_FAULT_NOT_ALLOWED));
  CHECK(refused(DISPENSER_OP_RETURN_TO_SLOT, 66, 0, DISPENSER_FAULT_NOT_ALLOWED));
  const uint8_t short_payload[] = {DISPENSER_OP_MOVE_TO_STATION, 67};
  dispenser_command(&dispenser, short_payload, 2, clock_ms);
  CHECK(has_event(7, DISPENSER_EVENT_FAULT, 67, DISPENSER_FAULT_BAD_ARGUMENT));
  const uint8_t long_payload[] = {DISPENSER_OP_MOVE_TO_STATION, 68, 0, 0};
  dispenser_command(&dispenser, long_payload, 4, clock_ms);
  CHECK(has_event(8, DISPENSER_EVENT_FAULT, 68, DISPENSER_FAULT_BAD_ARGUMENT));
  dispenser_command(&dispenser, short_payload, 1, clock_ms); /* no seq to answer to */
  dispenser_command(&dispenser, short_payload, 0, clock_ms);
  CHECK(event_count == 9);
  CHECK(dispenser.state == DISPENSER_IDLE && dispenser.motor == MOTOR_OFF);
  /* card in the tray: MOVE and RETURN_TO_SLOT are not allowed, RETRACT is */
  inputs.tray = 1;
  advance(1);
  CHECK(has_event(9, DISPENSER_EVENT_SENSOR, DISPENSER_SEQ_UNSOLICITED, DISPENSER_SENSOR_CARD_PLACED));
  CHECK(refused(DISPENSER_OP_MOVE_TO_STATION, 69, 0, DISPENSER_FAULT_NOT_ALLOWED));
  CHECK(refused(DISPENSER_OP_RETURN_TO_SLOT, 70, 0, DISPENSER_FAULT_NOT_ALLOWED));
  command(DISPENSER_OP_RETRACT, 71, 0);
  CHECK(has_event(12, DISPENSER_EVENT_ACCEPTED, 71, 0));
}

/* PROTOCOL.md: the move from an empty slot reaches the station, where the card sensor (D9) sees
   nothing: FAULT "no card" after ACCEPTED, motor off, idle (not faulted), the next move may start. */
static void empty_slot_reports_no_card_at_the_station(void) {
  fresh_dispenser(0);
  inputs.station = 0;
  command(DISPENSER_OP_MOVE_TO_STATION, 80, 9);
  CHECK(has_event(0, DISPENSER_EVENT_ACCEPTED, 80, 0));
  travel(800);
  CHECK(has_event(1, DISPENSER_EVENT_FAULT, 80, DISPENSER_FAULT_NO_CARD));
  CHECK(event_count == 2);
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_IDLE);
  CHECK(refused(DISPENSER_OP_PRESENT, 81, 0, DISPENSER_FAULT_NOT_ALLOWED));
  inputs.station = 1;
  command(DISPENSER_OP_MOVE_TO_STATION, 82, 10);
  travel(800);
  CHECK(has_event(4, DISPENSER_EVENT_DONE, 82, DISPENSER_AT_STATION));
  CHECK(dispenser.state == DISPENSER_CARD_AT_STATION);
}

static void starts_idle_with_the_motor_off(void) {
  fresh_dispenser(0);
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_IDLE && event_count == 0);
  const dispenser_inputs_t card_in_tray = {.position = 1, .tray = 1};
  dispenser_init(&dispenser, record_event, NULL, &card_in_tray);
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_CARD_IN_TRAY);
}

/* A reset (the watchdog's) with a card at the chip station: the board knows it from D9 at boot. */
static void boots_from_the_card_sensors(void) {
  fresh_dispenser(0);
  const dispenser_inputs_t card_at_station = {.position = 1, .station = 1};
  dispenser_init(&dispenser, record_event, NULL, &card_at_station);
  CHECK(dispenser.motor == MOTOR_OFF && dispenser.state == DISPENSER_CARD_AT_STATION);
  CHECK(refused(DISPENSER_OP_MOVE_TO_STATION, 3, 1, DISPENSER_FAULT_NOT_ALLOWED));
  const dispenser_inputs_t both_mid_move = {.position = 0, .station = 1, .tray = 1};
  dispenser_init(&dispenser, record_event, NULL, &both_mid_move);
  CHECK(dispenser.state == DISPENSER_FAULTED);
  event_count = 0;
  dispenser_report_sensors(&dispenser, DISPENSER_SEQ_UNSOLICITED);
  CHECK(has_event(0, DISPENSER_EVENT_SENSORS, DISPENSER_SEQ_UNSOLICITED, DISPENSER_SENSE_TRAY | DISPENSER_SENSE_STATION));
  /* caught mid-move with nothing on a sensor: idle, and "not at a stop" tells the host */
  const dispenser_inputs_t nothing_mid_move = {.position = 0};
  dispenser_init(&dispenser, record_event, NULL, &nothing_mid_move);
  CHECK(dispenser.state == DISPENSER_IDLE);
  event_count = 0;
  dispenser_report_sensors(&dispenser, 5);
  CHECK(has_event(0, DISPENSER_EVENT_SENSORS, 5, 0));
}

/* SENSORS answers with what the card sensors see now, whatever the state. */
static void sensors_query_reports_tray_and_station(void) {
  fresh_dispenser(0);
  inputs.station = 0;
  inputs.tray = 1;
  dispenser_poll(&dispenser, &inputs, clock_ms);
  event_count = 0;
  command(DISPENSER_OP_SENSORS, 9, 0);
  CHECK(has_event(0, DISPENSER_EVENT_SENSORS, 9, DISPENSER_SENSE_TRAY | DISPENSER_SENSE_AT_STOP));
  inputs.station = 1;
  inputs.tray = 0;
  dispenser_poll(&dispenser, &inputs, clock_ms);
  event_count = 0;
  command(DISPENSER_OP_SENSORS, 10, 0);
  CHECK(has_event(0, DISPENSER_EVENT_SENSORS, 10, DISPENSER_SENSE_STATION | DISPENSER_SENSE_AT_STOP));
  CHECK(refused(DISPENSER_OP_SENSORS, 11, 1, DISPENSER_FAULT_BAD_ARGUMENT));
}

/* Random commands and sensor readings: the protocol's rules hold whatever happens. */
static void random_sequences_keep_the_rules(void) {
  for (uint32_t seed = 1; seed <= 300; seed++) {
    fresh_dispenser(seed * 7919u);
    rng_state = seed * 40503u + 1;
    int open_seq = -1; /* seq of the ACCEPTED command awaiting DONE/FAULT */
    for (int step = 0; step < 400; step++) {
      event_count = 0;
      uint32_t r = next_random();
      if (r % 4 == 0) {
        uint8_t payload[4] = {(uint8_t)(next_random() % 7), (uint8_t)(next_random() % 128),
                              (uint8_t)(next_random() % 70), 0};
        dispenser_command(&dispenser, payload, (uint8_t)(next_random() % 5), clock_ms);
      } else {
        inputs.position = (next_random() % 3) != 0;
        inputs.jam = (next_random() % 50) == 0;
        inputs.tray = (next_random() % 5) == 0;
        inputs.station = (next_random() % 4) != 0;
        clock_ms += next_random() % 700;
        dispenser_poll(&dispenser, &inputs, clock_ms);
      }
      for (int i = 0; i < event_count; i++) {
        emitted_t e = events[i];
        if (e.event == DISPENSER_EVENT_ACCEPTED) {
          CHECK(open_seq < 0);
          open_seq = e.seq;
        } else if ((e.event == DISPENSER_EVENT_DONE || e.event == DISPENSER_EVENT_FAULT) && open_seq >= 0 &&
                   e.seq == open_seq && dispenser.state != DISPENSER_MOVING) {
          open_seq = -1;
        }
      }
      CHECK((dispenser.state == DISPENSER_MOVING) == (dispenser.motor != MOTOR_OFF));
      CHECK((dispenser.state == DISPENSER_MOVING) == (open_seq >= 0));
      if (current_failed) {
        snprintf(current_detail + strlen(current_detail), sizeof(current_detail) - strlen(current_detail),
                 " (seed %u step %d)", seed, step);
        return;
      }
    }
  }
}

int main(void) {
  run("parser: every message type of the subset", parses_every_message_type);
  run("parser: sysex with no payload is delivered", sysex_with_no_payload_is_delivered);
  run("parser: empty sysex is dropped", empty_sysex_is_dropped);
  run("parser: truncated sysex is dropped, the next command runs", truncated_sysex_is_dropped_and_next_command_runs);
  run("parser: truncated command is dropped", truncated_command_is_dropped);
  run("parser: oversized sysex is dropped whole, buffer stays bounded", oversized_sysex_is_dropped_whole);
  run("parser: sysex of exactly the maximum length is kept", sysex_of_exactly_the_maximum_is_kept);
  run("parser: stray data bytes are ignored", stray_data_bytes_are_ignored);
  run("parser: after random garbage a valid query is answered", garbage_then_a_valid_query_is_answered);
  run("dispenser: starts idle with the motor off", starts_idle_with_the_motor_off);
  run("dispenser: boots from the card sensors (tray D2, station D9)", boots_from_the_card_sensors);
  run("dispenser: SENSORS reports the tray and station sensors", sensors_query_reports_tray_and_station);
  run("dispenser: full dispense cycle, events in order", full_dispense_cycle);
  run("dispenser: return to slot and retract to the capture bin", return_to_slot_and_retract);
  run("dispenser: jam stops the motor until retract", jam_stops_the_motor_until_retract);
  run("dispenser: a jam sensor that never clears ends in a timeout", a_jam_that_never_clears_ends_in_a_timeout);
  run("dispenser: motor timeout at the move limit", motor_timeout_after_the_move_limit);
  run("dispenser: the position sensor must leave the stop first", position_sensor_must_leave_the_stop_first);
  run("dispenser: timeout across the millisecond counter wrap", timeout_across_the_millisecond_wrap);
  run("dispenser: busy while moving", busy_while_moving);
  run("dispenser: bad arguments and commands not allowed", bad_arguments_and_states);
  run("dispenser: an empty slot is reported as no card at the station", empty_slot_reports_no_card_at_the_station);
  run("dispenser: random sequences keep the protocol's rules", random_sequences_keep_the_rules);
  printf("1..%d\n", test_number);
  return failures ? 1 : 0;
}
