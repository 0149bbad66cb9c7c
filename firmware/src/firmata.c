#include "firmata.h"

#include <string.h>

void firmata_parser_init(firmata_parser_t *parser, const firmata_handlers_t *handlers, void *ctx) {
  memset(parser, 0, sizeof(*parser));
  parser->handlers = handlers;
  parser->ctx = ctx;
}

/* Data bytes that follow each status byte (protocol.md "Message types"); 0 = single byte. */
static uint8_t data_bytes_for(uint8_t status) {
  switch (status & 0xF0) {
    case FIRMATA_DIGITAL_MESSAGE:
    case FIRMATA_ANALOG_MESSAGE:
      return 2;
    case FIRMATA_REPORT_ANALOG:
    case FIRMATA_REPORT_DIGITAL:
      return 1;
    default:
      break;
  }
  switch (status) {
    case FIRMATA_SET_PIN_MODE:
    case FIRMATA_SET_DIGITAL_PIN_VALUE:
      return 2;
    default:
      return 0;
  }
}

static void dispatch(firmata_parser_t *parser) {
  const firmata_handlers_t *h = parser->handlers;
  const uint8_t status = parser->command;
  const uint8_t *d = parser->data;
  const uint8_t channel = status & 0x0F;
  switch (status & 0xF0) {
    case FIRMATA_DIGITAL_MESSAGE:
      if (h->digital_message) h->digital_message(parser->ctx, channel, (uint8_t)(d[0] | (d[1] << 7)));
      return;
    case FIRMATA_ANALOG_MESSAGE:
      if (h->analog_message) h->analog_message(parser->ctx, channel, (uint16_t)(d[0] | (d[1] << 7)));
      return;
    case FIRMATA_REPORT_ANALOG:
      if (h->report_analog) h->report_analog(parser->ctx, channel, d[0]);
      return;
    case FIRMATA_REPORT_DIGITAL:
      if (h->report_digital) h->report_digital(parser->ctx, channel, d[0]);
      return;
    default:
      break;
  }
  switch (status) {
    case FIRMATA_SET_PIN_MODE:
      if (h->set_pin_mode) h->set_pin_mode(parser->ctx, d[0], d[1]);
      return;
    case FIRMATA_SET_DIGITAL_PIN_VALUE:
      if (h->set_digital_pin) h->set_digital_pin(parser->ctx, d[0], d[1]);
      return;
    case FIRMATA_REPORT_VERSION:
      if (h->version_request) h->version_request(parser->ctx);
      return;
    case FIRMATA_SYSTEM_RESET:
      if (h->system_reset) h->system_reset(parser->ctx);
      return;
    default:
      /* A status byte this subset does not know (e.g. 0x80 or 0xF1): ignored. */
      parser->dropped++;
      return;
  }
}

static void start_command(firmata_parser_t *parser, uint8_t status) {
  if (status == FIRMATA_START_SYSEX) {
    parser->in_sysex = 1;
    parser->sysex_length = 0;
    parser->sysex_overflow = 0;
    parser->command = 0;
    return;
  }
  parser->command = status;
  parser->needed = data_bytes_for(status);
  parser->received = 0;
  if (parser->needed == 0) {
    dispatch(parser);
    parser->command = 0;
  }
}

void firmata_parser_feed(firmata_parser_t *parser, uint8_t byte) {
  if (parser->in_sysex) {
    if (byte == FIRMATA_END_SYSEX) {
      parser->in_sysex = 0;
      if (parser->sysex_overflow || parser->sysex_length == 0) {
        parser->dropped++;
      } else if (parser->handlers->sysex) {
        parser->handlers->sysex(parser->ctx, parser->sysex[0], parser->sysex + 1,
                                (uint8_t)(parser->sysex_length - 1));
      }
      return;
    }
    if (byte & 0x80) {
      /* A status byte inside a sysex: the sysex was truncated. Drop it, start the new command. */
      parser->in_sysex = 0;
      parser->dropped++;
      start_command(parser, byte);
      return;
    }
    if (parser->sysex_length < sizeof(parser->sysex)) {
      parser->sysex[parser->sysex_length++] = byte;
    } else {
      parser->sysex_overflow = 1;
    }
    return;
  }
  if (byte & 0x80) {
    if (parser->command != 0) parser->dropped++; /* the pending command was truncated */
    start_command(parser, byte);
    return;
  }
  if (parser->command == 0) {
    parser->dropped++; /* a data byte with no command: line noise */
    return;
  }
  parser->data[parser->received++] = byte;
  if (parser->received == parser->needed) {
    dispatch(parser);
    parser->command = 0;
  }
}
