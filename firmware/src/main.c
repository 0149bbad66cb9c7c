/*
 * Dispenser controller firmware, ATmega328P at 16 MHz (Arduino Uno/Nano pinout).
 *
 * Speaks the Firmata 2.5 subset johnny-five needs (firmata/protocol protocol.md) over USART0 at
 * 57600 8N1, plus the DISPENSER sysex (devices/dispenser/PROTOCOL.md). Parsing and the card
 * mechanics live in hardware-free modules (firmata.c, dispenser.c); this file is the hardware.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <stdint.h>

#include "dispenser.h"
#include "firmata.h"

#define BAUD 57600UL
#define TOTAL_PINS 20 /* D0..D13, A0..A5 as 14..19 */
#define ANALOG_PINS 6
#define FIRST_ANALOG_PIN 14
#define DIGITAL_PORTS 3
#define PWM_PIN 3 /* D3 = OC2B */
#define TRAY_SENSOR_PIN 2

/* Firmware-owned pins (PROTOCOL.md "Pins"): D5/D6 H-bridge, D7 position sensor, D8 jam sensor,
   D9 card-at-station sensor. */
#define MOTOR_FORWARD_BIT PD5
#define MOTOR_REVERSE_BIT PD6
#define POSITION_SENSOR_BIT PD7
#define JAM_SENSOR_BIT PB0
#define STATION_CARD_SENSOR_BIT PB1
#define TRAY_SENSOR_BIT PD2

static const char FIRMWARE_NAME[] = "cccd-dispenser";
#define FIRMATA_MAJOR 2
#define FIRMATA_MINOR 5

/* ---- Time: Timer0 CTC at 1 kHz ---------------------------------------------------------------- */

static volatile uint32_t millis_counter;

ISR(TIMER0_COMPA_vect) { millis_counter++; }

static uint32_t millis(void) {
  uint8_t sreg = SREG;
  cli();
  uint32_t now = millis_counter;
  SREG = sreg;
  return now;
}

/* ---- UART: interrupt-driven receive ring, polled transmit ---------------------------------------- */

#define RX_RING_SIZE 128 /* power of two; at 57600 baud it holds 22 ms of input */
static volatile uint8_t rx_ring[RX_RING_SIZE];
static volatile uint8_t rx_head, rx_tail;

ISR(USART_RX_vect) {
  uint8_t byte = UDR0;
  uint8_t next = (uint8_t)((rx_head + 1) & (RX_RING_SIZE - 1));
  if (next != rx_tail) { /* a full ring drops the byte; the parser resynchronises on the next status */
    rx_ring[rx_head] = byte;
    rx_head = next;
  }
}

static int16_t uart_read(void) {
  if (rx_head == rx_tail) return -1;
  uint8_t byte = rx_ring[rx_tail];
  rx_tail = (uint8_t)((rx_tail + 1) & (RX_RING_SIZE - 1));
  return byte;
}

static void uart_write(uint8_t byte) {
  while (!(UCSR0A & _BV(UDRE0))) {
  }
  UDR0 = byte;
}

static void uart_init(void) {
  const uint16_t ubrr = (uint16_t)((F_CPU / (8UL * BAUD)) - 1); /* U2X: -0.8% error at 16 MHz */
  UBRR0H = (uint8_t)(ubrr >> 8);
  UBRR0L = (uint8_t)ubrr;
  UCSR0A = _BV(U2X0);
  UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
  UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

/* ---- Pins ------------------------------------------------------------------------------------- */

static uint8_t pin_mode[TOTAL_PINS];
static uint8_t pin_state[TOTAL_PINS]; /* output level, PWM duty or pull-up, as PIN_STATE_RESPONSE */
static uint8_t report_port[DIGITAL_PORTS];
static uint8_t last_port_value[DIGITAL_PORTS];
static uint8_t report_analog_mask; /* bit n = A<n> */
static uint16_t sampling_interval_ms = 19;

static uint8_t firmware_owned(uint8_t pin) { return pin <= 1 || (pin >= 5 && pin <= 9); }

static volatile uint8_t *port_register(uint8_t pin) {
  return pin < 8 ? &PORTD : pin < 14 ? &PORTB : &PORTC;
}
static volatile uint8_t *ddr_register(uint8_t pin) { return pin < 8 ? &DDRD : pin < 14 ? &DDRB : &DDRC; }
static volatile uint8_t *input_register(uint8_t pin) { return pin < 8 ? &PIND : pin < 14 ? &PINB : &PINC; }
static uint8_t pin_bit(uint8_t pin) { return (uint8_t)_BV(pin < 8 ? pin : pin < 14 ? pin - 8 : pin - 14); }

static uint8_t mode_supported(uint8_t pin, uint8_t mode) {
  if (firmware_owned(pin) || pin >= TOTAL_PINS) return 0;
  /* D2 is the tray sensor the dispenser logic reads too: input only, so that no host write (a
     pull-up, an output level) can fake a card in the tray. */
  if (pin == TRAY_SENSOR_PIN) return mode == FIRMATA_MODE_INPUT;
  switch (mode) {
    case FIRMATA_MODE_INPUT:
    case FIRMATA_MODE_OUTPUT:
    case FIRMATA_MODE_PULLUP:
      return 1;
    case FIRMATA_MODE_PWM:
      return pin == PWM_PIN;
    case FIRMATA_MODE_ANALOG:
      return pin >= FIRST_ANALOG_PIN;
    default:
      return 0;
  }
}

static void pwm_write(uint8_t duty) {
  OCR2B = duty;
  if (duty == 0) {
    TCCR2A &= (uint8_t)~_BV(COM2B1); /* fast PWM still pulses at 0: disconnect and drive low */
    PORTD &= (uint8_t)~_BV(PD3);
  } else {
    TCCR2A |= _BV(COM2B1);
  }
}

static void digital_write(uint8_t pin, uint8_t level) {
  if (level)
    *port_register(pin) |= pin_bit(pin);
  else
    *port_register(pin) &= (uint8_t)~pin_bit(pin);
}

static void set_pin_mode(uint8_t pin, uint8_t mode) {
  if (!mode_supported(pin, mode)) return; /* owned or unknown pins and modes: ignored */
  if (pin == PWM_PIN && pin_mode[pin] == FIRMATA_MODE_PWM && mode != FIRMATA_MODE_PWM) pwm_write(0);
  pin_mode[pin] = mode;
  pin_state[pin] = 0;
  switch (mode) {
    case FIRMATA_MODE_OUTPUT:
    case FIRMATA_MODE_PWM:
      digital_write(pin, 0);
      *ddr_register(pin) |= pin_bit(pin);
      if (mode == FIRMATA_MODE_PWM) pwm_write(0);
      break;
    case FIRMATA_MODE_PULLUP:
      *ddr_register(pin) &= (uint8_t)~pin_bit(pin);
      digital_write(pin, 1);
      pin_state[pin] = 1;
      break;
    default: /* INPUT, ANALOG */
      *ddr_register(pin) &= (uint8_t)~pin_bit(pin);
      digital_write(pin, 0);
      break;
  }
}

static uint8_t read_port(uint8_t port) {
  uint8_t value = 0;
  for (uint8_t bit = 0; bit < 8; bit++) {
    uint8_t pin = (uint8_t)(port * 8 + bit);
    if (pin >= TOTAL_PINS) break;
    uint8_t mode = pin_mode[pin];
    if ((mode == FIRMATA_MODE_INPUT || mode == FIRMATA_MODE_PULLUP) && (*input_register(pin) & pin_bit(pin)))
      value |= (uint8_t)_BV(bit);
  }
  return value;
}

static uint16_t analog_read(uint8_t channel) {
  ADMUX = (uint8_t)(_BV(REFS0) | (channel & 0x07)); /* AVcc reference */
  ADCSRA |= _BV(ADSC);
  while (ADCSRA & _BV(ADSC)) {
  }
  return ADC;
}

/* ---- Firmata replies ---------------------------------------------------------------------------- */

static void send_version(void) {
  uart_write(FIRMATA_REPORT_VERSION);
  uart_write(FIRMATA_MAJOR);
  uart_write(FIRMATA_MINOR);
}

static void send_firmware(void) {
  uart_write(FIRMATA_START_SYSEX);
  uart_write(FIRMATA_REPORT_FIRMWARE);
  uart_write(FIRMATA_MAJOR);
  uart_write(FIRMATA_MINOR);
  for (const char *c = FIRMWARE_NAME; *c; c++) { /* protocol.md: name as 7-bit LSB, MSB pairs */
    uart_write((uint8_t)*c & 0x7F);
    uart_write((uint8_t)((uint8_t)*c >> 7));
  }
  uart_write(FIRMATA_END_SYSEX);
}

static void send_capabilities(void) {
  uart_write(FIRMATA_START_SYSEX);
  uart_write(FIRMATA_CAPABILITY_RESPONSE);
  for (uint8_t pin = 0; pin < TOTAL_PINS; pin++) {
    if (pin == TRAY_SENSOR_PIN) {
      uart_write(FIRMATA_MODE_INPUT);
      uart_write(1);
    } else if (!firmware_owned(pin)) {
      uart_write(FIRMATA_MODE_INPUT);
      uart_write(1);
      uart_write(FIRMATA_MODE_OUTPUT);
      uart_write(1);
      uart_write(FIRMATA_MODE_PULLUP);
      uart_write(1);
      if (pin == PWM_PIN) {
        uart_write(FIRMATA_MODE_PWM);
        uart_write(8);
      }
      if (pin >= FIRST_ANALOG_PIN) {
        uart_write(FIRMATA_MODE_ANALOG);
        uart_write(10);
      }
    }
    uart_write(0x7F); /* end of this pin's modes; owned pins list none */
  }
  uart_write(FIRMATA_END_SYSEX);
}

static void send_analog_mapping(void) {
  uart_write(FIRMATA_START_SYSEX);
  uart_write(FIRMATA_ANALOG_MAPPING_RESPONSE);
  for (uint8_t pin = 0; pin < TOTAL_PINS; pin++)
    uart_write(pin >= FIRST_ANALOG_PIN ? (uint8_t)(pin - FIRST_ANALOG_PIN) : 0x7F);
  uart_write(FIRMATA_END_SYSEX);
}

static void send_pin_state(uint8_t pin) {
  uart_write(FIRMATA_START_SYSEX);
  uart_write(FIRMATA_PIN_STATE_RESPONSE);
  uart_write(pin);
  if (pin < TOTAL_PINS) {
    uart_write(firmware_owned(pin) ? FIRMATA_MODE_IGNORE : pin_mode[pin]);
    uart_write(pin_state[pin] & 0x7F);
    if (pin_state[pin] > 0x7F) uart_write(pin_state[pin] >> 7);
  }
  uart_write(FIRMATA_END_SYSEX);
}

static void send_digital_port(uint8_t port, uint8_t value) {
  uart_write((uint8_t)(FIRMATA_DIGITAL_MESSAGE | port));
  uart_write(value & 0x7F);
  uart_write(value >> 7);
}

static void send_analog(uint8_t channel, uint16_t value) {
  uart_write((uint8_t)(FIRMATA_ANALOG_MESSAGE | channel));
  uart_write(value & 0x7F);
  uart_write((uint8_t)(value >> 7));
}

static void send_dispenser_event(void *ctx, uint8_t event, uint8_t seq, uint8_t code) {
  (void)ctx;
  uart_write(FIRMATA_START_SYSEX);
  uart_write(DISPENSER_SYSEX);
  uart_write(event);
  uart_write(seq & 0x7F);
  uart_write(code & 0x7F);
  uart_write(FIRMATA_END_SYSEX);
}

/* ---- Firmata handlers --------------------------------------------------------------------------- */

static dispenser_t dispenser;

static void on_version_request(void *ctx) {
  (void)ctx;
  send_version();
}

static void reset_pins(void) {
  for (uint8_t pin = 0; pin < TOTAL_PINS; pin++) {
    if (firmware_owned(pin)) continue;
    set_pin_mode(pin, pin >= FIRST_ANALOG_PIN ? FIRMATA_MODE_ANALOG : FIRMATA_MODE_INPUT);
  }
  for (uint8_t port = 0; port < DIGITAL_PORTS; port++) report_port[port] = 0;
  report_analog_mask = 0;
  sampling_interval_ms = 19;
}

static void on_system_reset(void *ctx) {
  (void)ctx;
  reset_pins();
  dispenser_stop(&dispenser, DISPENSER_FAULT_MOTOR_TIMEOUT);
}

static void on_digital_message(void *ctx, uint8_t port, uint8_t value) {
  (void)ctx;
  for (uint8_t bit = 0; bit < 8; bit++) {
    uint8_t pin = (uint8_t)(port * 8 + bit);
    if (pin >= TOTAL_PINS) break;
    uint8_t level = (value >> bit) & 1;
    if (pin_mode[pin] == FIRMATA_MODE_OUTPUT) {
      digital_write(pin, level);
      pin_state[pin] = level;
    } else if (pin_mode[pin] == FIRMATA_MODE_INPUT && level && mode_supported(pin, FIRMATA_MODE_PULLUP)) {
      /* Firmata 2.5: writing HIGH to an input enables its pull-up. */
      set_pin_mode(pin, FIRMATA_MODE_PULLUP);
    }
  }
}

static void write_analog(uint8_t pin, uint16_t value) {
  if (pin != PWM_PIN || pin_mode[pin] != FIRMATA_MODE_PWM) return;
  uint8_t duty = value > 255 ? 255 : (uint8_t)value;
  pin_state[pin] = duty;
  pwm_write(duty);
}

static void on_analog_message(void *ctx, uint8_t pin, uint16_t value) {
  (void)ctx;
  write_analog(pin, value);
}

static void on_report_analog(void *ctx, uint8_t channel, uint8_t enable) {
  (void)ctx;
  if (channel >= ANALOG_PINS) return;
  if (enable)
    report_analog_mask |= (uint8_t)_BV(channel);
  else
    report_analog_mask &= (uint8_t)~_BV(channel);
}

static void on_report_digital(void *ctx, uint8_t port, uint8_t enable) {
  (void)ctx;
  if (port >= DIGITAL_PORTS) return;
  report_port[port] = enable ? 1 : 0;
  if (enable) { /* protocol.md: the current value is sent at once */
    last_port_value[port] = read_port(port);
    send_digital_port(port, last_port_value[port]);
  }
}

static void on_set_pin_mode(void *ctx, uint8_t pin, uint8_t mode) {
  (void)ctx;
  set_pin_mode(pin, mode);
}

static void on_set_digital_pin(void *ctx, uint8_t pin, uint8_t value) {
  (void)ctx;
  if (pin >= TOTAL_PINS || pin_mode[pin] != FIRMATA_MODE_OUTPUT) return;
  digital_write(pin, value ? 1 : 0);
  pin_state[pin] = value ? 1 : 0;
}

static void on_sysex(void *ctx, uint8_t command, const uint8_t *data, uint8_t length) {
  (void)ctx;
  switch (command) {
    case FIRMATA_REPORT_FIRMWARE:
      send_firmware();
      break;
    case FIRMATA_CAPABILITY_QUERY:
      send_capabilities();
      break;
    case FIRMATA_ANALOG_MAPPING_QUERY:
      send_analog_mapping();
      break;
    case FIRMATA_PIN_STATE_QUERY:
      if (length >= 1) send_pin_state(data[0]);
      break;
    case FIRMATA_SAMPLING_INTERVAL:
      if (length >= 2) {
        uint16_t interval = (uint16_t)(data[0] | (data[1] << 7));
        sampling_interval_ms = interval < 10 ? 10 : interval;
      }
      break;
    case FIRMATA_EXTENDED_ANALOG:
      if (length >= 2) {
        uint16_t value = 0;
        for (uint8_t i = 1; i < length && i < 4; i++) value |= (uint16_t)data[i] << (7 * (i - 1));
        write_analog(data[0], value);
      }
      break;
    case DISPENSER_SYSEX:
      dispenser_command(&dispenser, data, length, millis());
      break;
#ifdef FIRMWARE_TEST_HANG_SYSEX
    case FIRMWARE_TEST_HANG_SYSEX: /* test builds only (make watchdog-test): hang, for the watchdog */
      for (;;) {
      }
#endif
    default:
      break; /* other sysex commands are not part of this subset */
  }
}

static const firmata_handlers_t handlers = {
    .version_request = on_version_request,
    .system_reset = on_system_reset,
    .digital_message = on_digital_message,
    .analog_message = on_analog_message,
    .report_analog = on_report_analog,
    .report_digital = on_report_digital,
    .set_pin_mode = on_set_pin_mode,
    .set_digital_pin = on_set_digital_pin,
    .sysex = on_sysex,
};

/* ---- Start-up and main loop --------------------------------------------------------------------- */

/* Runs before main and before .data is set up: a watchdog reset leaves the watchdog enabled with
   its shortest period, so disable it at once; and the motor must be off from the first cycle. */
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void) {
  MCUSR = 0;
  wdt_disable();
  PORTD &= (uint8_t)~(_BV(MOTOR_FORWARD_BIT) | _BV(MOTOR_REVERSE_BIT));
  DDRD |= _BV(MOTOR_FORWARD_BIT) | _BV(MOTOR_REVERSE_BIT);
}

static void drive_motor(motor_drive_t drive) {
  uint8_t port = PORTD & (uint8_t)~(_BV(MOTOR_FORWARD_BIT) | _BV(MOTOR_REVERSE_BIT));
  if (drive == MOTOR_FORWARD) port |= _BV(MOTOR_FORWARD_BIT);
  if (drive == MOTOR_REVERSE) port |= _BV(MOTOR_REVERSE_BIT);
  PORTD = port; /* one write: forward and reverse are never on together */
}

static void hardware_init(void) {
  /* Sensors: inputs; the reference mechanics drive them push-pull, so no pull-ups. */
  DDRD &= (uint8_t)~(_BV(POSITION_SENSOR_BIT) | _BV(TRAY_SENSOR_BIT));
  DDRB &= (uint8_t)~(_BV(JAM_SENSOR_BIT) | _BV(STATION_CARD_SENSOR_BIT));
  TCCR0A = _BV(WGM01); /* CTC */
  OCR0A = (uint8_t)(F_CPU / 64 / 1000 - 1);
  TCCR0B = _BV(CS01) | _BV(CS00); /* /64 */
  TIMSK0 = _BV(OCIE0A);
  TCCR2A = _BV(WGM21) | _BV(WGM20); /* fast PWM on OC2B (D3), ~976 Hz */
  TCCR2B = _BV(CS22);
  ADCSRA = _BV(ADEN) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0); /* 125 kHz ADC clock */
  uart_init();
}

static dispenser_inputs_t read_inputs(void) {
  const dispenser_inputs_t inputs = {
      .position = (PIND & _BV(POSITION_SENSOR_BIT)) != 0,
      .jam = (PINB & _BV(JAM_SENSOR_BIT)) != 0,
      .tray = (PIND & _BV(TRAY_SENSOR_BIT)) != 0,
      .station = (PINB & _BV(STATION_CARD_SENSOR_BIT)) != 0,
  };
  return inputs;
}

int main(void) {
  static firmata_parser_t parser;
  hardware_init();
  set_sleep_mode(SLEEP_MODE_IDLE); /* timers and the UART keep running */
  reset_pins();
  drive_motor(MOTOR_OFF);
  const dispenser_inputs_t at_boot = read_inputs();
  dispenser_init(&dispenser, send_dispenser_event, 0, &at_boot);
  firmata_parser_init(&parser, &handlers, 0);
  sei();
  wdt_enable(WDTO_500MS);

  send_version(); /* Firmata: announce the protocol version and firmware on boot */
  send_firmware();
  /* PROTOCOL.md: a (re)started board says what its card sensors see, so the host reconciles its
     inventory with the mechanics after every reset, the watchdog's included. */
  dispenser_report_sensors(&dispenser, DISPENSER_SEQ_UNSOLICITED);

  uint32_t last_sample_ms = millis();
  for (;;) {
    wdt_reset();
    uint32_t now = millis();
    /* Bounded batch per pass so that sensors and the watchdog are served under a flood of input. */
    for (uint8_t i = 0; i < 32; i++) {
      int16_t byte = uart_read();
      if (byte < 0) break;
      firmata_parser_feed(&parser, (uint8_t)byte);
    }

    const dispenser_inputs_t inputs = read_inputs();
    dispenser_poll(&dispenser, &inputs, millis());
    drive_motor(dispenser.motor);

    for (uint8_t port = 0; port < DIGITAL_PORTS; port++) {
      if (!report_port[port]) continue;
      uint8_t value = read_port(port);
      if (value != last_port_value[port]) {
        last_port_value[port] = value;
        send_digital_port(port, value);
      }
    }

    if (report_analog_mask && (uint32_t)(now - last_sample_ms) >= sampling_interval_ms) {
      last_sample_ms = now;
      for (uint8_t channel = 0; channel < ANALOG_PINS; channel++)
        if (report_analog_mask & _BV(channel)) send_analog(channel, analog_read(channel));
    }

    /* Idle until the next interrupt (the 1 ms tick or a received byte): the loop runs at least
       every millisecond, well inside the watchdog period. Checking the ring with interrupts off
       and sleeping right after sei (whose next instruction always runs) cannot miss a byte. */
    cli();
    if (rx_head == rx_tail) {
      sleep_enable();
      sei();
      sleep_cpu();
      sleep_disable();
    }
    sei();
  }
}
