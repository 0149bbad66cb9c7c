/*
 * Firmata 2.x message parser (https://github.com/firmata/protocol, protocol.md), hardware-free so
 * that it builds for the ATmega328P and for the host tests alike.
 *
 * The parser never blocks and never grows: every byte is consumed at once, a status byte (>= 0x80)
 * always starts over (so a truncated message or sysex is dropped, not merged with what follows),
 * and a sysex longer than FIRMATA_SYSEX_MAX is discarded whole at its END_SYSEX.
 */
#ifndef CCCD_FIRMATA_H
#define CCCD_FIRMATA_H

#include <stdint.h>

/* Firmata protocol.md, "Message types". */
#define FIRMATA_DIGITAL_MESSAGE 0x90 /* 0x90 | port, lsb, msb */
#define FIRMATA_ANALOG_MESSAGE 0xE0  /* 0xE0 | pin, lsb, msb */
#define FIRMATA_REPORT_ANALOG 0xC0   /* 0xC0 | channel, enable */
#define FIRMATA_REPORT_DIGITAL 0xD0  /* 0xD0 | port, enable */
#define FIRMATA_SET_PIN_MODE 0xF4
#define FIRMATA_SET_DIGITAL_PIN_VALUE 0xF5
#define FIRMATA_REPORT_VERSION 0xF9
#define FIRMATA_SYSTEM_RESET 0xFF
#define FIRMATA_START_SYSEX 0xF0
#define FIRMATA_END_SYSEX 0xF7

/* Sysex commands (protocol.md "Sysex Message Format", pin-state/capability/analog-mapping docs). */
#define FIRMATA_EXTENDED_ANALOG 0x6F
#define FIRMATA_CAPABILITY_QUERY 0x6B
#define FIRMATA_CAPABILITY_RESPONSE 0x6C
#define FIRMATA_PIN_STATE_QUERY 0x6D
#define FIRMATA_PIN_STATE_RESPONSE 0x6E
#define FIRMATA_ANALOG_MAPPING_QUERY 0x69
#define FIRMATA_ANALOG_MAPPING_RESPONSE 0x6A
#define FIRMATA_REPORT_FIRMWARE 0x79
#define FIRMATA_SAMPLING_INTERVAL 0x7A

/* Pin modes (protocol.md "Pin modes"). */
#define FIRMATA_MODE_INPUT 0x00
#define FIRMATA_MODE_OUTPUT 0x01
#define FIRMATA_MODE_ANALOG 0x02
#define FIRMATA_MODE_PWM 0x03
#define FIRMATA_MODE_PULLUP 0x0B
#define FIRMATA_MODE_IGNORE 0x7F

/* Longest sysex payload kept (command byte excluded). Ours are at most 5 bytes; 32 leaves room. */
#define FIRMATA_SYSEX_MAX 32

typedef struct firmata_handlers {
  void (*version_request)(void *ctx);
  void (*system_reset)(void *ctx);
  void (*digital_message)(void *ctx, uint8_t port, uint8_t value);
  void (*analog_message)(void *ctx, uint8_t pin, uint16_t value);
  void (*report_analog)(void *ctx, uint8_t channel, uint8_t enable);
  void (*report_digital)(void *ctx, uint8_t port, uint8_t enable);
  void (*set_pin_mode)(void *ctx, uint8_t pin, uint8_t mode);
  void (*set_digital_pin)(void *ctx, uint8_t pin, uint8_t value);
  /* `data` holds the 7-bit bytes between the sysex command and END_SYSEX. */
  void (*sysex)(void *ctx, uint8_t command, const uint8_t *data, uint8_t length);
} firmata_handlers_t;

typedef struct firmata_parser {
  const firmata_handlers_t *handlers;
  void *ctx;
  uint8_t command;      /* pending status byte, 0 when none */
  uint8_t needed;       /* data bytes the pending command takes */
  uint8_t received;     /* data bytes received so far */
  uint8_t data[2];
  uint8_t in_sysex;     /* 1 between START_SYSEX and END_SYSEX */
  uint8_t sysex_length; /* bytes kept in `sysex`, command byte included */
  uint8_t sysex_overflow;
  uint8_t sysex[FIRMATA_SYSEX_MAX + 1];
  /* Diagnostics, read by the tests: messages dropped as malformed, truncated or too long. */
  uint16_t dropped;
} firmata_parser_t;

void firmata_parser_init(firmata_parser_t *parser, const firmata_handlers_t *handlers, void *ctx);
void firmata_parser_feed(firmata_parser_t *parser, uint8_t byte);

#endif
