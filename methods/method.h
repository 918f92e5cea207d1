/* methods/method.h — what a method's source includes: the interface (engine/method.h), the
 * training step it is called from (engine/train.h) and the model it sees (engine/models/model.h).
 */
#ifndef MB_METHODS_METHOD_H
#define MB_METHODS_METHOD_H

#include "../engine/method.h"
#include "../engine/train.h"

#endif
