/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The interactive view of otel-agent top, on ncurses: it draws the text
 * format.c lays out for the terminal's width, highlights its header, and
 * reads the keys. ncurses (Debian's libncursesw) keeps the terminal's
 * capabilities, the redraw of what changed only, resizes and the restore
 * of the terminal at exit, which escape codes written by hand would not.
 */
#ifndef OA_TOP_SCREEN_H
#define OA_TOP_SCREEN_H

#include <stdbool.h>
#include <stddef.h>

/* Starts the full-screen view on the terminal; 0, or -ENOTTY when there is none. */
int top_screen_open(void);

/* The terminal's width in columns. */
int top_screen_width(void);

/*
 * Draws text (lines ending in '\n') from the top of the screen: the first
 * head_lines in bold, line column_line in reverse video, and the lines
 * marked in alert[] (indexed from the first line, nr_alert of them) in red
 * when the terminal has colours.
 */
void top_screen_draw(const char *text, int head_lines, int column_line, const bool *alert,
		     size_t nr_alert);

/* A key pressed within timeout_ms, or -1. */
int top_screen_key(int timeout_ms);

/*
 * Edits out (len bytes, what it holds first) on the last line after prompt
 * until Enter; false when given up with Esc.
 */
bool top_screen_prompt(const char *prompt, char *out, size_t len);

void top_screen_close(void);

#endif /* OA_TOP_SCREEN_H */
