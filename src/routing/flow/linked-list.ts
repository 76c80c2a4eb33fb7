/**
 * A doubly linked list whose nodes are handles: append, unlink and move-to-end are O(1), so a queued request can
 * leave the middle of an age order (expiry) or a band's arrival order (shedding), and a flow can go to the back of
 * its band's round-robin ring, without a scan.
 *
 * @module
 * @internal
 */

/** A node of a {@link LinkedList}; `list` is undefined once unlinked. */
export interface ListNode<T> {
  readonly value: T;
  prev: ListNode<T> | undefined;
  next: ListNode<T> | undefined;
  list: LinkedList<T> | undefined;
}

/** Doubly linked list, oldest appended first. */
export class LinkedList<T> {
  first: ListNode<T> | undefined = undefined;
  last: ListNode<T> | undefined = undefined;
  size = 0;

  /** Append `value`; returns its node, the handle to unlink it. */
  push(value: T): ListNode<T> {
    const node: ListNode<T> = { value, prev: undefined, next: undefined, list: undefined };
    this.link(node);
    return node;
  }

  /** Take `node` out; false when it is not in this list. */
  unlink(node: ListNode<T>): boolean {
    if (node.list !== this) return false;
    if (node.prev) node.prev.next = node.next;
    else this.first = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.last = node.prev;
    node.prev = undefined;
    node.next = undefined;
    node.list = undefined;
    this.size--;
    return true;
  }

  /** Move `node` (of this list) to the end. */
  moveToEnd(node: ListNode<T>): void {
    if (node.list !== this || node === this.last) return;
    this.unlink(node);
    this.link(node);
  }

  private link(node: ListNode<T>): void {
    node.prev = this.last;
    node.list = this;
    if (this.last) this.last.next = node;
    else this.first = node;
    this.last = node;
    this.size++;
  }
}
