/* SPDX-License-Identifier: MIT */
#pragma once

/* The D-Bus error names of org.srvlab.Attachment1 (dbus/org.srvlab.Attachment1.xml). */
#define BUS_ERROR_ALREADY_ATTACHED "org.srvlab.Attachment1.Error.AlreadyAttached"
#define BUS_ERROR_NOT_ATTACHED "org.srvlab.Attachment1.Error.NotAttached"
#define BUS_ERROR_VOLUME_NOT_FOUND "org.srvlab.Attachment1.Error.VolumeNotFound"
#define BUS_ERROR_STORE_FAILED "org.srvlab.Attachment1.Error.StoreFailed"
#define BUS_ERROR_SHUTTING_DOWN "org.srvlab.Attachment1.Error.ShuttingDown"

#define BUS_NAME "org.srvlab.Attachment1"
#define BUS_PATH "/org/srvlab/Attachment1"
#define BUS_INTERFACE "org.srvlab.Attachment1"
