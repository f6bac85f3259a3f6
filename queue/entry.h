#ifndef RELAY_QUEUE_ENTRY_H
#define RELAY_QUEUE_ENTRY_H

/* The relay's P:events entry (docs/redis.md, "Ingest"), internal to queue/: one field,
 * ENTRY_FIELD, holding the event's values joined by NUL bytes in the order below.
 * queue/enqueue.c writes it and queue/delivery.c splits it. A later build appends values and
 * never reorders them: a reader takes missing ones as empty and ignores those past its last. */
#define ENTRY_FIELD "e"

enum entry_value {
    ENTRY_SOURCE,
    ENTRY_EVENT_ID,
    ENTRY_TYPE,
    ENTRY_CONTENT_TYPE,
    ENTRY_CONTENT_ID,
    ENTRY_SHOW_ID,
    ENTRY_SEASON_NUMBER,
    ENTRY_EPISODE_NUMBER,
    ENTRY_CREATED_AT,
    ENTRY_RECEIVED_AT,
    ENTRY_REQUEST_ID,
    ENTRY_VALUES /* how many */
};

#endif
