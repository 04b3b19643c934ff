/* The "ephpm" session save handler (session.c). */
#ifndef EPHPM_SESSION_H
#define EPHPM_SESSION_H

/* Registers the handler; call before the engine starts. */
void ephpm_session_register(void);

#endif
