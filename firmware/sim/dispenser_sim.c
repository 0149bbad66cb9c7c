/*
 * dispenser-sim: runs the dispenser firmware ELF on simavr's ATmega328P, in wall-clock time, with
 * its USART0 on a pseudo-terminal and the card mechanics of devices/dispenser/PROTOCOL.md
 * simulated on the firmware-owned pins.
 *
 *   dispenser-sim build/dispenser.elf [link]
 *
 * With `link`, a symlink at that path points to the pty (replaced if it exists), so that a new
 * instance started with the same link is the same board "plugged in again" for a driver that
 * reopens its path.
 *
 * stdout: "pty <path>" once the pty exists (open it with any serial library at any baud rate),
 *         then one line per mechanical event ("motor forward", "arrived station", "jam", ...) and
 *         per change of the host-driven LEDs D4 and D13 ("D13 1").
 * stdin:  one control per line:
 *         load <n>|all   vault slot n (0..63) or every slot holds a card (all do at start)
 *         empty <n>|all  vault slot n or every slot is empty: the move from it reaches the chip
 *                        station with no card there (card-at-station sensor D9 stays LOW)
 *         slots  prints "slots <n>,<n>,..." (the loaded vault slots, ascending)
 *         jam    the move in progress (or the next one) jams: the jam sensor (D8) rises
 *         stall  the next move never reaches its stop (the firmware's move time limit expires)
 *         take   the citizen takes the card from the tray (tray sensor D2 falls)
 *         place  a card is put into the tray (D2 rises)
 *         a<n> <mV>  sets the voltage on analog input A<n> (0..5000 mV against AVcc = 5 V)
 *         power-off  the board stops (no output, input ignored) while the pty stays open
 *         reset  the board resets (as its watchdog or a brown-out would): the firmware starts over;
 *                a card a move was carrying stays between two stops, seen by no sensor
 *         clock  prints "clock <simulated µs> <wall µs>" since the board started (benchmarks)
 * Environment: DISPENSER_SIM_UNTHROTTLED=1 runs as fast as the host can (benchmarks only).
 *
 * Which vault slot a move takes a card from or returns it to is the host's command argument;
 * PROTOCOL.md gives the mechanics no pins for the slot selector, so the simulated selector reads it
 * from the DISPENSER commands on their way to the UART (MOVE_TO_STATION, RETURN_TO_SLOT, RETRACT).
 *
 * The firmware does not start running until a program opens the pty, so nothing it sends at boot
 * is lost. The bridge is our own (posix_openpt) rather than simavr's uart_pty part: in simavr 1.6
 * uart_pty feeds the UART from its own thread without a lock while the core runs in another; here
 * everything happens on the simulation thread, between instructions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <avr_adc.h>
#include <avr_extint.h>
#include <avr_ioport.h>
#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_irq.h>
#include <sim_time.h>

/* PROTOCOL.md "Timing of the reference mechanics". */
#define SLOT_TO_STATION_MS 800
#define STATION_TO_TRAY_MS 600
#define TO_CAPTURE_BIN_MS 700
#define STATION_TO_SLOT_MS 800
#define JAM_AFTER_MS 300
#define VAULT_SLOTS 64
/* DISPENSER sysex (PROTOCOL.md), as far as the slot selector needs it. */
#define DISPENSER_SYSEX 0x01
#define OP_MOVE_TO_STATION 0x01
#define OP_RETRACT 0x03
#define OP_RETURN_TO_SLOT 0x04

/* Service the pty, stdin and the wall clock every simulated millisecond. */
#define SERVICE_INTERVAL_US 1000

typedef enum { CARD_NONE, CARD_AT_STATION, CARD_IN_TRAY, CARD_JAMMED } card_place_t;
typedef enum { DRIVE_OFF, DRIVE_FORWARD, DRIVE_REVERSE } drive_t;

static avr_t *avr;
static int pty_master = -1;
static int uart_xon = 1;
static uint8_t pty_in[256];
static size_t pty_in_length, pty_in_done;
static uint8_t pty_out[4096];
static size_t pty_out_length;

static avr_irq_t *uart_input;
static avr_irq_t *position_sensor, *jam_sensor, *tray_sensor, *station_sensor;
static uint8_t motor_forward_pin, motor_reverse_pin;
static drive_t drive = DRIVE_OFF;
static card_place_t card = CARD_NONE;
static card_place_t card_after_move;
static int jam_armed, stall_armed;
static uint8_t slot_loaded[VAULT_SLOTS];
static int selected_slot;         /* of the last MOVE_TO_STATION the host sent */
static int return_slot = -1;      /* of the last RETURN_TO_SLOT, -1 after a RETRACT */
static int move_return_slot = -1; /* the slot the reverse move in progress puts the card into */
static int powered_off;

static void event(const char *text) { printf("%s\n", text); }

static uint64_t wall_us(void);
static uint64_t board_started_wall_us;

/* ---- Slot selector ------------------------------------------------------------------------------ */

/* Follows the host's bytes: F0 01 <op> <seq> <arg> F7. A command the firmware refuses moves no
   motor, and the next one it accepts is read again, so refusals need no special case. */
static void select_slot_from_host(uint8_t byte) {
  static uint8_t body[5];
  static size_t length;
  static int in_sysex;
  if (byte == 0xF0) {
    in_sysex = 1, length = 0;
  } else if (byte == 0xF7) {
    if (in_sysex && length == 4 && body[0] == DISPENSER_SYSEX && body[3] < VAULT_SLOTS) {
      if (body[1] == OP_MOVE_TO_STATION) selected_slot = body[3];
      if (body[1] == OP_RETURN_TO_SLOT) return_slot = body[3];
      if (body[1] == OP_RETRACT) return_slot = -1;
    }
    in_sysex = 0;
  } else if (byte & 0x80) {
    in_sysex = 0;
  } else if (in_sysex) {
    if (length < sizeof(body)) body[length] = byte;
    length++;
  }
}

/* ---- UART <-> pty ------------------------------------------------------------------------------- */

static void uart_output_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  if (pty_out_length < sizeof(pty_out)) pty_out[pty_out_length++] = (uint8_t)value;
}
static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)value, (void)param;
  uart_xon = 1;
}
static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)value, (void)param;
  uart_xon = 0;
}

static void service_pty(void) {
  if (pty_out_length) {
    ssize_t written = write(pty_master, pty_out, pty_out_length);
    if (written > 0) {
      memmove(pty_out, pty_out + written, pty_out_length - (size_t)written);
      pty_out_length -= (size_t)written;
    } else if (written < 0 && errno == EIO) {
      pty_out_length = 0; /* nobody has the pty open: the bytes go nowhere, as on a real board */
    }
  }
  if (pty_in_done == pty_in_length) {
    ssize_t got = read(pty_master, pty_in, sizeof(pty_in));
    pty_in_length = got > 0 ? (size_t)got : 0;
    pty_in_done = 0;
  }
  /* simavr's UART takes bytes into its receive FIFO while it signals XON, then paces them to
     the firmware at the programmed baud rate. */
  while (uart_xon && pty_in_done < pty_in_length) {
    select_slot_from_host(pty_in[pty_in_done]);
    avr_raise_irq(uart_input, pty_in[pty_in_done++]);
  }
}

/* ---- Mechanics ---------------------------------------------------------------------------------- */

static void set_sensor(avr_irq_t *sensor, int level) { avr_raise_irq(sensor, level ? 1 : 0); }

static avr_cycle_count_t arrive(struct avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a, (void)when, (void)param;
  card = card_after_move;
  /* the card lands in the tray or at the station (its sensor rises), then the carriage stops */
  if (card == CARD_IN_TRAY) set_sensor(tray_sensor, 1);
  if (card == CARD_AT_STATION) set_sensor(station_sensor, 1);
  if (move_return_slot >= 0) {
    slot_loaded[move_return_slot] = 1;
    move_return_slot = -1;
  }
  set_sensor(position_sensor, 1);
  event(card == CARD_AT_STATION ? "arrived station"
        : card == CARD_IN_TRAY  ? "arrived tray"
        : drive == DRIVE_FORWARD ? "arrived station without a card"
                                 : "arrived inside");
  return 0;
}

static avr_cycle_count_t jam_now(struct avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a, (void)when, (void)param;
  avr_cycle_timer_cancel(avr, arrive, NULL);
  card = CARD_JAMMED;
  set_sensor(jam_sensor, 1);
  event("jam");
  return 0;
}

static void start_move(drive_t direction) {
  uint32_t travel_ms = 0;
  move_return_slot = -1;
  if (direction == DRIVE_FORWARD && card == CARD_NONE) {
    /* the card leaves its slot as the move starts; from an empty slot the carriage comes alone */
    travel_ms = SLOT_TO_STATION_MS;
    card_after_move = slot_loaded[selected_slot] ? CARD_AT_STATION : CARD_NONE;
    slot_loaded[selected_slot] = 0;
  } else if (direction == DRIVE_FORWARD && card == CARD_AT_STATION) {
    travel_ms = STATION_TO_TRAY_MS, card_after_move = CARD_IN_TRAY;
  } else if (direction == DRIVE_REVERSE && (card == CARD_IN_TRAY || card == CARD_JAMMED)) {
    travel_ms = TO_CAPTURE_BIN_MS, card_after_move = CARD_NONE;
  } else if (direction == DRIVE_REVERSE && card == CARD_AT_STATION) {
    /* Back to the vault slot or on into the capture bin: the pins cannot tell which, so the
       longer of the two travels. */
    travel_ms = STATION_TO_SLOT_MS, card_after_move = CARD_NONE;
    move_return_slot = return_slot;
  }
  if (direction == DRIVE_REVERSE && card == CARD_JAMMED) set_sensor(jam_sensor, 0); /* pulled free */
  if (card == CARD_IN_TRAY) set_sensor(tray_sensor, 0);
  set_sensor(station_sensor, 0); /* a card at the station leaves it with the carriage */
  set_sensor(position_sensor, 0); /* the carriage leaves its stop */
  if (travel_ms == 0) {
    event("no stop ahead");
  } else if (jam_armed) {
    jam_armed = 0;
    avr_cycle_timer_register_usec(avr, JAM_AFTER_MS * 1000u, jam_now, NULL);
  } else if (stall_armed) {
    stall_armed = 0;
    card = CARD_JAMMED; /* stuck where the jam sensor does not see it */
    event("stalled");
  } else {
    avr_cycle_timer_register_usec(avr, travel_ms * 1000u, arrive, NULL);
  }
}

static void motor_changed(void) {
  drive_t next = motor_forward_pin && !motor_reverse_pin   ? DRIVE_FORWARD
                 : motor_reverse_pin && !motor_forward_pin ? DRIVE_REVERSE
                                                           : DRIVE_OFF;
  if (next == drive) return;
  drive = next;
  avr_cycle_timer_cancel(avr, arrive, NULL);
  avr_cycle_timer_cancel(avr, jam_now, NULL);
  event(drive == DRIVE_FORWARD ? "motor forward" : drive == DRIVE_REVERSE ? "motor reverse" : "motor off");
  if (drive != DRIVE_OFF) start_move(drive);
}

static void motor_forward_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)param;
  motor_forward_pin = value != 0;
  motor_changed();
}
static void motor_reverse_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)param;
  motor_reverse_pin = value != 0;
  motor_changed();
}

/* Host-driven outputs, so that tests can see johnny-five's writes arrive at the pins. */
static void output_pin_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  printf("D%d %u\n", (int)(intptr_t)param, value ? 1u : 0u);
}

/* "load <n>|all" / "empty <n>|all" */
static void fill_slots(const char *which, uint8_t loaded) {
  char *end = NULL;
  long slot = strtol(which, &end, 10);
  if (strcmp(which, "all") == 0) {
    memset(slot_loaded, loaded, sizeof(slot_loaded));
    printf("%s all\n", loaded ? "loaded" : "emptied");
  } else if (end != which && *end == 0 && slot >= 0 && slot < VAULT_SLOTS) {
    slot_loaded[slot] = loaded;
    printf("%s %ld\n", loaded ? "loaded" : "emptied", slot);
  } else {
    fprintf(stderr, "dispenser-sim: no vault slot '%s'\n", which);
  }
}

/* A reset mid-move leaves the card where the motor stopped: between two stops, where neither the
   tray (D2) nor the station (D9) sensor sees it. A card at rest stays where it is. */
static void reset_board(void) {
  const int mid_move = drive != DRIVE_OFF;
  if (mid_move && (card != CARD_NONE || card_after_move != CARD_NONE)) card = CARD_JAMMED;
  avr_cycle_timer_cancel(avr, arrive, NULL);
  avr_cycle_timer_cancel(avr, jam_now, NULL);
  move_return_slot = -1;
  avr_reset(avr);
  /* the reset cleared the port registers but not the IRQs' last values, and simavr drops a raise
     of an unchanged value: toggle each sensor so its level reaches the PIN register again (the
     firmware has not run an instruction yet, so it sees no edge) */
  const int levels[4] = {card == CARD_IN_TRAY, card == CARD_AT_STATION, 0, !mid_move};
  avr_irq_t *sensors[4] = {tray_sensor, station_sensor, jam_sensor, position_sensor};
  for (int i = 0; i < 4; i++) {
    set_sensor(sensors[i], !levels[i]);
    set_sensor(sensors[i], levels[i]);
  }
  event(card == CARD_JAMMED ? "reset; card between stops" : "reset");
}

static void control(const char *line) {
  if (strncmp(line, "load ", 5) == 0) {
    fill_slots(line + 5, 1);
  } else if (strncmp(line, "empty ", 6) == 0) {
    fill_slots(line + 6, 0);
  } else if (strcmp(line, "slots") == 0) {
    printf("slots");
    for (int slot = 0, first = 1; slot < VAULT_SLOTS; slot++)
      if (slot_loaded[slot]) printf("%s%d", first ? " " : ",", slot), first = 0;
    printf("\n");
  } else if (strcmp(line, "jam") == 0) {
    if (drive != DRIVE_OFF)
      avr_cycle_timer_register_usec(avr, 1000, jam_now, NULL);
    else
      jam_armed = 1;
    event("jam armed");
  } else if (strcmp(line, "stall") == 0) {
    stall_armed = 1;
    event("stall armed");
  } else if (strcmp(line, "take") == 0) {
    if (card == CARD_IN_TRAY) {
      card = CARD_NONE;
      set_sensor(tray_sensor, 0);
      event("card taken");
    } else {
      event("no card in the tray");
    }
  } else if (strcmp(line, "place") == 0) {
    card = CARD_IN_TRAY;
    set_sensor(tray_sensor, 1);
    event("card placed");
  } else if (line[0] == 'a' && line[1] >= '0' && line[1] <= '5' && line[2] == ' ') {
    long millivolts = strtol(line + 3, NULL, 10);
    if (millivolts < 0) millivolts = 0;
    if (millivolts > 5000) millivolts = 5000;
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + (line[1] - '0')), (uint32_t)millivolts);
    printf("A%c %ld mV\n", line[1], millivolts);
  } else if (strcmp(line, "reset") == 0) {
    reset_board();
  } else if (strcmp(line, "power-off") == 0) {
    powered_off = 1;
    event("powered off");
  } else if (strcmp(line, "clock") == 0) {
    printf("clock %llu %llu\n", (unsigned long long)avr_cycles_to_usec(avr, avr->cycle),
           (unsigned long long)(wall_us() - board_started_wall_us));
  } else if (line[0]) {
    fprintf(stderr, "dispenser-sim: unknown control '%s'\n", line);
  }
}

static void service_stdin(void) {
  static char line[64];
  static size_t length;
  static int closed;
  if (closed) return;
  char chunk[64];
  ssize_t got = read(STDIN_FILENO, chunk, sizeof(chunk));
  if (got == 0) closed = 1;
  for (ssize_t i = 0; i < got; i++) {
    if (chunk[i] == '\n' || length == sizeof(line) - 1) {
      line[length] = 0;
      length = 0;
      control(line);
    } else if (chunk[i] != '\r') {
      line[length++] = chunk[i];
    }
  }
}

/* ---- Wall clock --------------------------------------------------------------------------------- */

/* simavr's default sleep callback usleeps through the firmware's idle sleeps; the throttle below
   keeps time for the whole simulation instead, so that there is one clock and it can be turned off. */
static void sleep_without_waiting(avr_t *a, avr_cycle_count_t how_long) { (void)a, (void)how_long; }

static uint64_t wall_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s firmware.elf [link]\n", argv[0]);
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test that started us */
  setvbuf(stdout, NULL, _IOLBF, 0);

  elf_firmware_t firmware;
  memset(&firmware, 0, sizeof(firmware));
  if (elf_read_firmware(argv[1], &firmware) != 0) {
    fprintf(stderr, "dispenser-sim: cannot read %s\n", argv[1]);
    return 1;
  }
  if (!firmware.mmcu[0]) strcpy(firmware.mmcu, "atmega328p");
  if (!firmware.frequency) firmware.frequency = 16000000;
  avr = avr_make_mcu_by_name(firmware.mmcu);
  if (!avr) {
    fprintf(stderr, "dispenser-sim: simavr does not know %s\n", firmware.mmcu);
    return 1;
  }
  avr_init(avr);
  avr_load_firmware(avr, &firmware);
  avr->sleep = sleep_without_waiting;
  avr->vcc = avr->avcc = avr->aref = 5000; /* millivolts: a 5 V Uno */
  /* simavr re-raises a level-triggered INT0/INT1 every cycle while its pin is low (D2 is low
     whenever the tray is empty), even with the interrupt masked: that polling made the simulation
     several times slower. The firmware uses neither interrupt. */
  avr_extint_set_strict_lvl_trig(avr, 0, 0);
  avr_extint_set_strict_lvl_trig(avr, 1, 0);

  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~AVR_UART_FLAG_STDIO; /* binary Firmata, not text for the console */
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_output_hook, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon_hook, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff_hook, NULL);
  uart_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);

  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 5), motor_forward_hook, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 6), motor_reverse_hook, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 4), output_pin_hook, (void *)4);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 5), output_pin_hook, (void *)13);
  position_sensor = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 7);
  tray_sensor = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 2);
  jam_sensor = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 0);
  station_sensor = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 1);
  set_sensor(position_sensor, 1); /* the carriage rests at its home stop */
  set_sensor(tray_sensor, 0);
  set_sensor(jam_sensor, 0);
  set_sensor(station_sensor, 0);
  memset(slot_loaded, 1, sizeof(slot_loaded)); /* a full vault */

  pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (pty_master < 0 || grantpt(pty_master) != 0 || unlockpt(pty_master) != 0) {
    fprintf(stderr, "dispenser-sim: cannot create a pty: %s\n", strerror(errno));
    return 1;
  }
  struct termios tio;
  tcgetattr(pty_master, &tio);
  cfmakeraw(&tio);
  tcsetattr(pty_master, TCSANOW, &tio);
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  if (argc == 3) {
    unlink(argv[2]);
    if (symlink(ptsname(pty_master), argv[2]) != 0) {
      fprintf(stderr, "dispenser-sim: cannot link %s: %s\n", argv[2], strerror(errno));
      return 1;
    }
  }
  printf("pty %s\n", ptsname(pty_master));

  /* Hold the board until the host opens the pty. Linux reports POLLHUP on the master once a
     slave has been closed and until it is opened again (not before the first open), so open and
     close the slave once ourselves. */
  int slave = open(ptsname(pty_master), O_RDWR | O_NOCTTY);
  if (slave >= 0) close(slave);
  for (;;) {
    struct pollfd pfd = {.fd = pty_master, .events = POLLIN};
    poll(&pfd, 1, 10);
    if (!(pfd.revents & POLLHUP)) break;
    service_stdin();
  }
  event("host opened the pty; board running");
  const char *unthrottled_env = getenv("DISPENSER_SIM_UNTHROTTLED");
  const int throttled = !(unthrottled_env && strcmp(unthrottled_env, "1") == 0);
  board_started_wall_us = wall_us();

  const avr_cycle_count_t service_cycles = avr_usec_to_cycles(avr, SERVICE_INTERVAL_US);
  avr_cycle_count_t next_service = avr->cycle + service_cycles;
  uint64_t wall_start = wall_us();
  avr_cycle_count_t cycle_start = avr->cycle;
  for (;;) {
    if (powered_off) { /* keep draining the host's bytes into nowhere, as a dead board would */
      pty_out_length = 0;
      pty_in_done = pty_in_length;
      service_pty();
      service_stdin();
      usleep(1000);
      continue;
    }
    int state = avr_run(avr);
    if (state == cpu_Done || state == cpu_Crashed) {
      fprintf(stderr, "dispenser-sim: the firmware stopped (state %d)\n", state);
      return 1;
    }
    if (avr->cycle < next_service) continue;
    next_service = avr->cycle + service_cycles;
    service_pty();
    service_stdin();
    /* Throttle to wall-clock time; after a stall of the host (a loaded CI machine), start over
       rather than racing to catch up. */
    uint64_t simulated = avr_cycles_to_usec(avr, avr->cycle - cycle_start);
    uint64_t elapsed = wall_us() - wall_start;
    if (!throttled) continue;
    if (simulated > elapsed + 500) {
      usleep((useconds_t)(simulated - elapsed));
    } else if (elapsed > simulated + 100000) {
      wall_start = wall_us();
      cycle_start = avr->cycle;
    }
  }
}
