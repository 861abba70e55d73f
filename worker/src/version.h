#ifndef LIAUTO_VERSION_H
#define LIAUTO_VERSION_H

#define LIAUTO_WORKER_NAME     "liauto-worker"
#define LIAUTO_WORKER_VERSION  "0.1.0"

#endif
