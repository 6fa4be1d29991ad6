/* libvirt.c - targets from libvirt domains: their disks and their state */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "libvirt.h"
#include "proc.h"

/* Run virsh -q -c uri ARGS...; its standard output in *out. */
static int virsh(const char *uri, const char *const *args, struct buf *out,
		 char **cause)
{
	const char *argv[12] = { "virsh", "-q", "-c", uri };
	size_t n = 4;
	char *c;
	int r;

	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	r = proc_capture(argv, 60, out, cause);
	if (r < 0) {
		c = *cause;
		*cause = xasprintf("virsh %s: %s", args[0], c);
		free(c);
	}
	return r;
}

int libvirt_shutoff(const char *uri, struct strv *names, char **cause)
{
	static const char *const args[] = {
		"list", "--all", "--state-shutoff", "--name", NULL
	};
	struct buf b = { 0 };
	char *line, *next;
	int r;

	r = virsh(uri, args, &b, cause);
	for (line = b.p; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line)
			strv_push(names, line);
	}
	buf_release(&b);
	return r;
}

static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
	char *s = v ? xstrdup((const char *)v) : NULL;

	xmlFree(v);
	return s;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

/* The disks of a domain definition. */
static int parse_disks(struct vm *vm, const struct buf *xml, char **cause)
{
	xmlDocPtr doc = xmlReadMemory(xml->p, (int)xml->len, "domain.xml",
				      NULL, XML_PARSE_NONET |
				      XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr xc = doc ? xmlXPathNewContext(doc) : NULL;
	xmlXPathObjectPtr res = xc ? xmlXPathEvalExpression((const xmlChar *)
		"/domain/devices/disk[@device='disk' or not(@device)]", xc) :
		NULL;
	int n, r = 0;

	if (!res) {
		*cause = xasprintf("cannot read the definition of domain "
				   "'%s'", vm->name);
		r = -EINVAL;
		goto done;
	}
	n = res->nodesetval ? res->nodesetval->nodeNr : 0;
	vm->disks = xcalloc((size_t)n + 1, sizeof(*vm->disks));
	for (int i = 0; i < n; i++) {
		xmlNodePtr d = res->nodesetval->nodeTab[i];
		struct vm_disk *k = &vm->disks[vm->ndisks++];
		char *type = attr(d, "type");

		k->dev = attr(child(d, "target"), "dev");
		k->format = attr(child(d, "driver"), "type");
		if (type && !strcmp(type, "file"))
			k->path = attr(child(d, "source"), "file");
		else if (type && !strcmp(type, "block"))
			k->path = attr(child(d, "source"), "dev");
		if (!k->path)
			k->skip = xasprintf("%s disk: only file and block "
					    "disks are supported",
					    type ? type : "untyped");
		if (!k->dev)
			k->dev = xasprintf("disk%d", i);
		free(type);
	}
done:
	xmlXPathFreeObject(res);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
	return r;
}

int libvirt_vm(const char *uri, const char *name, struct vm **out,
	       char **cause)
{
	const char *state_args[] = { "domstate", "--", name, NULL };
	const char *xml_args[] = { "dumpxml", "--inactive", "--", name, NULL };
	struct vm *vm = xcalloc(1, sizeof(*vm));
	struct buf b = { 0 };
	int r;

	vm->name = xstrdup(name);
	r = virsh(uri, state_args, &b, cause);
	if (r < 0)
		goto fail;
	b.p[strcspn(b.p, "\n")] = '\0';
	vm->state = xstrdup(b.p);
	buf_release(&b);
	r = virsh(uri, xml_args, &b, cause);
	if (r == 0)
		r = parse_disks(vm, &b, cause);
	buf_release(&b);
	if (r < 0)
		goto fail;
	*out = vm;
	return 0;
fail:
	libvirt_vm_free(vm);
	return r;
}

bool libvirt_vm_running(const struct vm *vm)
{
	return strcmp(vm->state, "shut off") != 0;
}

void libvirt_vm_free(struct vm *vm)
{
	if (!vm)
		return;
	for (size_t i = 0; i < vm->ndisks; i++) {
		free(vm->disks[i].dev);
		free(vm->disks[i].path);
		free(vm->disks[i].format);
		free(vm->disks[i].skip);
	}
	free(vm->disks);
	free(vm->name);
	free(vm->state);
	free(vm);
}
