/** The partition name of one DynamoDB scan segment (its checkpoints are kept under it). */
export function segmentPartition(segment: number, total: number): string {
  return `segment-${segment}-of-${total}`;
}
